#!/usr/bin/env bash
# Builds everything the GPU check needs into one folder that a machine with a GPU but no Maven and no network can
# run: `scripts/gpu-check.sh` inside it. Run HERE (with Maven and the local repository):
#
#   scripts/gpu-pack.sh [--no-jre] [OUT]        (OUT defaults to gpu-pack/, git-ignored)
#
# OUT/jre/      a jlink runtime (java.base, java.logging, jdk.incubator.vector, jdk.unsupported; no child JVMs)
# OUT/lib/      the project's jars and their run-time dependencies (thin: no JMH, no ONNX Runtime)
# OUT/tests/    test classes: numerics' op parity suites, polaformer's golden test, the pool's unit test,
#               and junit-platform-console-standalone to run them
# OUT/golden/   the module golden files (pola_attn, vanilla_attn, block_l: about 1 MiB)
# OUT-golden/   the whole-model golden files, b0_*.safetensors (weights 30 MB, eval 6 MB, train step 13 MB):
#               the runtime (44 MB) leaves no room for them in one 64 MiB carry, so they form a second folder.
#               Carry it in a second device call on the same warm machine (a carried folder stays there) or
#               together where no limit applies; gpu-check.sh uses it when it lies next to the pack.
#   --no-jre    no jlink runtime: the GPU machine brings a JDK 25 (gpu-check.sh --java DIR)
# OUT/gpu-check.sh, OUT/PACK.txt (what went in, sizes)
set -euo pipefail
cd "$(dirname "$0")/.."
. ./scripts/find-jdk.sh
JRE=1
if [ "${1:-}" = --no-jre ]; then JRE=0; shift; fi
OUT=${1:-gpu-pack}
GOLDEN=${POLAFORMER_GOLDEN_DIR:-../shared/golden}
LIMIT_MIB=63   # the device run carries at most 64 MiB; one spare

echo "gpu-pack: building the project (offline, no tests)"
mvn -o -q -B install -DskipTests
mvn -o -q -B -pl polaformer,cuda-bindings test-compile

# The dependency plugin may not be in the local repository yet: offline first, else let Maven fetch it.
mvn_dep() { mvn -o -q -B "$@" >/dev/null 2>&1 || mvn -q -B "$@"; }

rm -rf "$OUT"
mkdir -p "$OUT/lib" "$OUT/tests" "$OUT/golden"

# Run-time class path: polaformer's (numerics, native, cuda-bindings, picocli ...) plus the two module jars.
mvn_dep -pl polaformer dependency:copy-dependencies -DincludeScope=runtime -DexcludeTransitive=false \
    -DoutputDirectory="$PWD/$OUT/lib"
cp polaformer/target/polaformer-*-SNAPSHOT.jar "$OUT/lib/"
rm -f "$OUT"/lib/*-cli.jar
cp bench/target/bench-*-SNAPSHOT.jar "$OUT/lib/"

# Tests: jars of the compiled test classes, and the JUnit console launcher (version matched to the JUnit BOM).
cp numerics/target/numerics-*-tests.jar "$OUT/tests/"
jar --create --file "$OUT/tests/polaformer-tests.jar" -C polaformer/target/test-classes .
jar --create --file "$OUT/tests/cuda-bindings-tests.jar" -C cuda-bindings/target/test-classes .
junit=$(sed -n 's:.*<junit.version>5\.\(.*\)</junit.version>.*:1.\1:p' pom.xml)
mvn_dep dependency:copy -Dartifact="org.junit.platform:junit-platform-console-standalone:$junit" \
    -DoutputDirectory="$PWD/$OUT/tests"

# The runtime. jdeps also names java.desktop (polaformer's image decoding, for training from image folders) and
# java.sql (optional converters in the JUnit launcher); neither the tests nor the benchmarks reach them, and
# java.desktop alone costs 20 MB of the 64, so the runtime has just what runs: the base, the Vector API, and
# jdk.unsupported (sun.misc.Unsafe, which some libraries probe), java.logging (JUnit logs through it).
modules=none
if [ "$JRE" = 1 ]; then
  modules=java.base,java.logging,jdk.incubator.vector,jdk.unsupported
  jlink --add-modules "$modules" --strip-debug --no-man-pages --no-header-files --compress=zip-9 \
      --strip-native-debug-symbols=exclude-debuginfo-files --output "$OUT/jre"
fi

# Golden files: the modules in the pack, the whole-model ones (which load b0_weights) beside it.
rm -rf "$OUT-golden"
mkdir -p "$OUT-golden"
for f in "$GOLDEN"/*.safetensors; do
  case "$(basename "$f")" in b0_*) cp "$f" "$OUT-golden/" ;; *) cp "$f" "$OUT/golden/" ;; esac
done

cp scripts/gpu-check.sh "$OUT/"
# The kernels' own self-test (built with nvcc on the GPU machine) and the sources it includes.
mkdir -p "$OUT/native/src/main" "$OUT/native/src/test"
cp native/selftest.sh "$OUT/native/"
cp -r native/src/main/cuda "$OUT/native/src/main/"
cp -r native/src/test/cuda "$OUT/native/src/test/"
{
  echo "PolaFormer++ GPU pack, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD)$(git diff --quiet || echo '+dirty')"
  echo "jre modules: $modules"
  echo "golden files in $OUT/golden: $(cd "$OUT/golden" && ls | tr '\n' ' ')"
  echo "golden files in $OUT-golden (carried separately): $(cd "$OUT-golden" && ls | tr '\n' ' ')"
  du -sh "$OUT"/* "$OUT-golden" | grep -v '\.sh$\|PACK.txt'
} > "$OUT/PACK.txt"
cat "$OUT/PACK.txt"
total=$(du -sm "$OUT" | cut -f1)
extra=$(du -sm "$OUT-golden" | cut -f1)
echo "gpu-pack: $OUT is ${total} MiB, $OUT-golden ${extra} MiB; on the GPU machine run: bash $OUT/gpu-check.sh"
for n in "$total" "$extra"; do
  if [ "$n" -gt $LIMIT_MIB ]; then echo "gpu-pack: WARNING: a folder is over $LIMIT_MIB MiB, too large for one device call" >&2; exit 1; fi
done
