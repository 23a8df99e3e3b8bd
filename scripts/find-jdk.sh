# Sourced by the project's scripts: makes JAVA_HOME point at a JDK >= 25 and puts it first on PATH.
# Uses JAVA_HOME if it is new enough, else the newest JDK under /usr/lib/jvm; fails with a clear message.
_pf_version() { # prints the feature version of the java binary $1, or nothing
  "$1" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p' | head -n 1
}
_pf_pick=""
if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
  v=$(_pf_version "$JAVA_HOME/bin/java")
  if [ -n "$v" ] && [ "$v" -ge 25 ]; then _pf_pick="$JAVA_HOME"; fi
fi
if [ -z "$_pf_pick" ]; then
  best=0
  for d in /usr/lib/jvm/*/; do
    d=${d%/}
    [ -x "$d/bin/java" ] && [ -x "$d/bin/javac" ] || continue
    v=$(_pf_version "$d/bin/java")
    if [ -n "$v" ] && [ "$v" -ge 25 ] && [ "$v" -gt "$best" ]; then best=$v; _pf_pick=$d; fi
  done
fi
if [ -z "$_pf_pick" ]; then
  echo "error: PolaFormer++ for Java needs a JDK 25 or newer, and none was found" >&2
  echo "       (JAVA_HOME=${JAVA_HOME:-unset}; searched /usr/lib/jvm). Install one, e.g. Temurin 25, and set JAVA_HOME." >&2
  return 1 2>/dev/null || exit 1
fi
export JAVA_HOME="$_pf_pick"
export PATH="$JAVA_HOME/bin:$PATH"
# Maven 3.8 on JDK 25 warns about sun.misc.Unsafe in its own libraries; the warning is Maven's, not ours.
export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
unset _pf_pick _pf_version best v d
