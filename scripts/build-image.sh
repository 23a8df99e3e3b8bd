#!/usr/bin/env bash
# Builds a self-contained PolaFormer++ for edge machines: dist/polaformer/ holds a jlink'ed Java runtime, the CLI
# jar and a launcher, and runs on an x86-64 Linux machine with no JDK installed:
#   scripts/build-image.sh            # then: dist/polaformer/bin/polaformer classify -w WEIGHTS IMAGE
#   scripts/build-image.sh --tar      # also writes dist/polaformer-linux-x64.tar.gz
# The runtime holds only the modules the CLI uses (jdeps decides), and an AOT cache recorded from one classify run
# (JDK 25's ahead-of-time class loading and method profiles) so that a fresh start reaches its first result sooner.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/find-jdk.sh"
cd "$root"

echo "building the CLI jar..." >&2
mvn -q -B -ntp -DskipTests -pl polaformer -am package >&2
jar=polaformer/target/polaformer-0.1.0-SNAPSHOT-cli.jar
out=dist/polaformer
rm -rf "$out"

modules=$(jdeps --multi-release 25 --print-module-deps --ignore-missing-deps "$jar")
# jdk.unsupported: sun.misc.Signal for the trainer's Ctrl-C checkpoint is reached reflectively by the JDK itself.
modules="$modules,jdk.unsupported"
echo "jlink: $modules" >&2
jlink --add-modules "$modules" --strip-debug --no-header-files --no-man-pages --compress=zip-9 \
  --add-options="--add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC" \
  --output "$out"
mkdir -p "$out/lib/polaformer"
cp "$jar" "$out/lib/polaformer/polaformer-cli.jar"
cp scripts/jit-flags.sh "$out/lib/polaformer/"

# Record the AOT cache with the image's own runtime (the cache is only valid for the JVM that made it).
echo "recording the AOT cache (one classify run on random weights)..." >&2
"$out/bin/java" -XX:AOTCacheOutput="$out/lib/polaformer/polaformer.aot" -Xlog:aot=off -Xlog:cds=off \
  -jar "$out/lib/polaformer/polaformer-cli.jar" classify polaformer/src/test/resources/images/photo.jpg >/dev/null

cat > "$out/bin/polaformer" <<'EOF'
#!/bin/sh
# PolaFormer++ command line on the bundled Java runtime. Extra JVM options: POLAFORMER_JAVA_OPTS.
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/lib/polaformer/jit-flags.sh"
exec "$here/bin/java" -XX:AOTCache="$here/lib/polaformer/polaformer.aot" -Xlog:aot=off -Xlog:cds=off \
  $POLAFORMER_JIT_FLAGS ${POLAFORMER_JAVA_OPTS:-} -jar "$here/lib/polaformer/polaformer-cli.jar" "$@"
EOF
chmod +x "$out/bin/polaformer"

echo "image: $out ($(du -sh "$out" | cut -f1))" >&2
if [ "${1:-}" = "--tar" ]; then
  tar -C dist -czf dist/polaformer-linux-x64.tar.gz polaformer
  echo "archive: dist/polaformer-linux-x64.tar.gz ($(du -h dist/polaformer-linux-x64.tar.gz | cut -f1))" >&2
fi
