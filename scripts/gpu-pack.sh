#!/usr/bin/env bash
# Builds everything the GPU check needs into one folder that a machine with a GPU but no Maven and no network can
# run: `scripts/gpu-check.sh` inside it. Run HERE (with Maven and the local repository):
#
#   scripts/gpu-pack.sh [--no-jre] [--model-golden LIST] [OUT]     (OUT defaults to gpu-pack/; gpu-pack*/ are
#                                                                  git-ignored)
#
# OUT/jre.tar.xz  a jlink runtime (java.base, java.logging, jdk.incubator.vector, jdk.unsupported; no child JVMs),
#               uncompressed inside and xz-compressed outside (13 MB, against 23 MB for zip-9 + gzip)
# OUT/lib/      the project's jars and their run-time dependencies (thin: no JMH, no ONNX Runtime). The bundled
#               Fashion-MNIST files are left out of the polaformer jar: the checkout travels with the pack, and
#               gpu-check.sh puts its polaformer/src/main/resources on the class path.
# OUT/tests/    test classes: numerics' op parity suites, polaformer's golden test, the pool's unit test,
#               and junit-platform-console-standalone to run them
# OUT/golden/   the module golden files (pola_attn, vanilla_attn, block_l: about 1 MiB) and the whole-model files
#               named by --model-golden (default: b0_weights,b0_eval), the large ones xz-compressed. All three b0
#               files (49 MB) do not fit one 64 MiB device call beside the runtime, so the train step goes in a
#               second pack: --model-golden b0_weights,b0_train_step.
#   --no-jre    no runtime: the GPU machine brings a JDK 25 (gpu-check.sh --java DIR)
# OUT/gpu-check.sh, OUT/PACK.txt (what went in, sizes)
set -euo pipefail
cd "$(dirname "$0")/.."
. ./scripts/find-jdk.sh
JRE=1 MODEL_GOLDEN=b0_weights,b0_eval
while [ $# -gt 0 ]; do
  case "$1" in
    --no-jre) JRE=0 ;;
    --model-golden) MODEL_GOLDEN=$2; shift ;;
    -*) echo "gpu-pack: unknown option $1 (known: --no-jre, --model-golden LIST)" >&2; exit 2 ;;
    *) break ;;
  esac
  shift
done
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
classes=$(mktemp -d)
cp -r polaformer/target/classes/. "$classes/"
rm -rf "$classes/dev/polaformer/data/fashion-mnist"
jar --create --file "$OUT/lib/polaformer.jar" -C "$classes" .
rm -rf "$classes"
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
  jre=$(mktemp -d)
  jlink --add-modules "$modules" --strip-debug --no-man-pages --no-header-files --compress=zip-0 \
      --strip-native-debug-symbols=exclude-debuginfo-files --output "$jre/jre"
  tar -C "$jre" -cf - jre | xz -9 -T0 > "$OUT/jre.tar.xz"
  rm -rf "$jre"
fi

# Golden files: the modules, and the chosen whole-model files (which load b0_weights) xz-compressed.
for f in "$GOLDEN"/*.safetensors; do
  name=$(basename "$f" .safetensors)
  case "$name" in
    b0_*) case ",$MODEL_GOLDEN," in *",$name,"*) xz -9 -T0 -c "$f" > "$OUT/golden/$name.safetensors.xz" ;; esac ;;
    *) cp "$f" "$OUT/golden/" ;;
  esac
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
  echo "golden files: $(cd "$OUT/golden" && ls | tr '\n' ' ')"
  du -sh "$OUT"/* | grep -v '\.sh$\|PACK.txt'
} > "$OUT/PACK.txt"
cat "$OUT/PACK.txt"
total=$(( $(du -sb "$OUT" | cut -f1) / 1048576 ))
checkout=$(( $(git ls-files -z | du -cb --files0-from=- | tail -n 1 | cut -f1) / 1048576 ))
echo "gpu-pack: $OUT is ${total} MiB (+ ${checkout} MiB of checkout); on the GPU machine run: bash $OUT/gpu-check.sh"
if [ $((total + checkout)) -gt $LIMIT_MIB ]; then
  echo "gpu-pack: WARNING: pack and checkout are over $LIMIT_MIB MiB, too large for one device call" >&2; exit 1
fi
