#!/usr/bin/env bash
# The one-command GPU check of the CUDA backend: the parity tests and the kernel self-test on `cuda`, a short
# training run on cpu and on cuda (same seed), then the GPU benchmarks, then a summary table (printed last). Runs from already-built jars with a given Java runtime: no Maven, no network.
#
#   bash gpu-pack/gpu-check.sh [--java DIR] [--backend cuda|cpu] [--quick] [--seconds S] [--train-steps N]
#                              [--skip-tests] [--skip-train] [--skip-bench]
#
# The pack comes from `scripts/gpu-pack.sh` (run where the project builds); this script is copied into it and
# also works from scripts/ next to a gpu-pack/ folder. Java: --java DIR, else the pack's jre/, else JAVA_HOME.
# Without a GPU (no nvidia-smi, or no device) it says so, and runs everything on `cpu` with --quick benchmarks,
# which shows the harness works; the cuda skip reasons are still shown by one extra test run.
# Logs go to gpu-results/<time>/ next to the pack (override with RESULTS=...). Extra JVM options: JAVA_OPTS.
# Every stage runs under a time limit (STAGE_SECONDS, default 300) so one hang cannot eat a short GPU lease; the kernel
# self-test (nvcc build, run, memcheck) runs beside the Java tests, since neither waits for the other.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PACK=${GPU_PACK:-$HERE}
[ -d "$PACK/lib" ] || PACK=$HERE/../gpu-pack
[ -d "$PACK/lib" ] || { echo "gpu-check: no pack at $HERE or $HERE/../gpu-pack; build it with scripts/gpu-pack.sh" >&2; exit 2; }
PACK=$(cd "$PACK" && pwd)

JAVA_DIR="" BACKEND="" QUICK="" SECONDS_PER_BENCH=10 TRAIN_STEPS=300 RUN_TESTS=1 RUN_TRAIN=1 RUN_BENCH=1
STAGE_SECONDS=${STAGE_SECONDS:-300}
while [ $# -gt 0 ]; do
  case "$1" in
    --java) JAVA_DIR=$2; shift ;;
    --backend) BACKEND=$2; shift ;;
    --quick) QUICK=--quick ;;
    --seconds) SECONDS_PER_BENCH=$2; shift ;;
    --train-steps) TRAIN_STEPS=$2; shift ;;
    --skip-tests) RUN_TESTS=0 ;;
    --skip-train) RUN_TRAIN=0 ;;
    --skip-bench) RUN_BENCH=0 ;;
    *) echo "gpu-check: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
# xz, else Python's lzma (a GPU machine may lack the xz tool).
unxz_to_stdout() {
  if command -v xz >/dev/null 2>&1; then xz -dc "$1"
  else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$1"; fi
}
if [ -z "$JAVA_DIR" ] && [ ! -x "$PACK/jre/bin/java" ] && [ -f "$PACK/jre.tar.xz" ]; then
  unpacked=${TMPDIR:-/tmp}/polaformer-gpu-pack-jre
  [ -x "$unpacked/jre/bin/java" ] || { mkdir -p "$unpacked" && unxz_to_stdout "$PACK/jre.tar.xz" | tar -C "$unpacked" -xf -; }
  JAVA_DIR=$unpacked/jre
fi
if [ -z "$JAVA_DIR" ]; then
  if [ -x "$PACK/jre/bin/java" ]; then JAVA_DIR=$PACK/jre; else JAVA_DIR=${JAVA_HOME:-}; fi
fi
JAVA=$JAVA_DIR/bin/java
[ -x "$JAVA" ] || { echo "gpu-check: no java at $JAVA (give --java DIR or JAVA_HOME)" >&2; exit 2; }

# ---------------------------------------------------------------- the machine
GPU="none"
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  GPU=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -n 1)
fi
if [ -z "$BACKEND" ]; then
  if [ "$GPU" = none ]; then BACKEND=cpu; else BACKEND=cuda; fi
fi
if [ "$GPU" = none ]; then
  echo "================================================================================"
  echo "gpu-check: NO GPU on this machine (nvidia-smi missing or reports no device)."
  echo "gpu-check: running the tests on '$BACKEND' to show the harness works; cuda results below are NOT GPU results."
  echo "================================================================================"
  [ "$BACKEND" = cpu ] && QUICK=--quick
fi
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RESULTS=${RESULTS:-$PACK/../gpu-results/$STAMP}
mkdir -p "$RESULTS"
RESULTS=$(cd "$RESULTS" && pwd)
CP="$PACK/lib/*:$PACK/tests/*"
# The pack's polaformer jar leaves out the bundled Fashion-MNIST; the checkout beside the pack has it.
[ -d "$PACK/../polaformer/src/main/resources" ] && CP="$CP:$(cd "$PACK/../polaformer/src/main/resources" && pwd)"
# The golden folder the test reads: the pack's files, the compressed ones unpacked (outside the results).
GOLDEN_DIR=${TMPDIR:-/tmp}/polaformer-gpu-golden
rm -rf "$GOLDEN_DIR" && mkdir -p "$GOLDEN_DIR"
for f in "$PACK"/golden/*.safetensors; do [ -f "$f" ] && ln -sf "$f" "$GOLDEN_DIR/"; done
for f in "$PACK"/golden/*.safetensors.xz; do [ -f "$f" ] && unxz_to_stdout "$f" > "$GOLDEN_DIR/$(basename "$f" .xz)"; done
echo "gpu-check: golden files: $(cd "$GOLDEN_DIR" && ls | tr '\n' ' ')"
FLAGS=(--add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xss4m -XX:+UseParallelGC ${JAVA_OPTS:-})
echo "gpu-check: pack $PACK ($(head -n 1 "$PACK/PACK.txt" 2>/dev/null))"
echo "gpu-check: java $("$JAVA" -version 2>&1 | head -n 1), backend $BACKEND, GPU: $GPU, logs $RESULTS"

declare -a ROWS=()
row() { ROWS+=("$(printf '%-44s %s' "$1" "$2")"); }

# One JUnit console run; its counts become a summary row.
junit() { # name, then JVM -D options and launcher selectors
  local name=$1; shift
  local props=() sel=()
  for a in "$@"; do case "$a" in -D*) props+=("$a") ;; *) sel+=("$a") ;; esac; done
  echo; echo "---- tests: $name"
  timeout "$STAGE_SECONDS" "$JAVA" "${FLAGS[@]}" "${props[@]}" -cp "$CP" org.junit.platform.console.ConsoleLauncher execute \
      --disable-banner --details=tree --details-theme=ascii "${sel[@]}" > "$RESULTS/$name.log" 2>&1
  local rc=$?
  # A launcher that could not start prints no summary: show how it failed.
  grep -q "tests successful" "$RESULTS/$name.log" || tail -n 15 "$RESULTS/$name.log"
  grep -E "SKIPPED|\[parity\]|✘|\[X\]|tests (successful|failed|aborted|skipped)" "$RESULTS/$name.log" | head -n 40
  local ok fail abort skip
  ok=$(sed -n 's/.*\[ *\([0-9]*\) tests successful.*/\1/p' "$RESULTS/$name.log" | tail -n 1)
  fail=$(sed -n 's/.*\[ *\([0-9]*\) tests failed.*/\1/p' "$RESULTS/$name.log" | tail -n 1)
  abort=$(sed -n 's/.*\[ *\([0-9]*\) tests aborted.*/\1/p' "$RESULTS/$name.log" | tail -n 1)
  skip=$(sed -n 's/.*\[ *\([0-9]*\) tests skipped.*/\1/p' "$RESULTS/$name.log" | tail -n 1)
  local verdict="PASS"
  [ "$rc" -ne 0 ] && verdict="FAIL (exit $rc)"
  [ "${ok:-0}" -eq 0 ] && [ "$rc" -eq 0 ] && verdict="SKIPPED"
  row "test $name" "$verdict: ${ok:-?} passed, ${fail:-?} failed, $(( ${abort:-0} + ${skip:-0} )) skipped  [$name.log]"
  [ "$rc" -eq 0 ] || FAILED=1
}
FAILED=0

# The kernels alone, against double-precision host maths, then under compute-sanitizer's memcheck (the attention
# kernels included): needs nvcc, which the GPU machine has and the Java runtime does not need. Started in the
# background; its rows are added after the Java tests.
kernel_check() {
  bash "$PACK/native/selftest.sh" > "$RESULTS/kernel-selftest.log" 2>&1
  echo $? > "$RESULTS/kernel-selftest.rc"
  local sanitizer selftest=${TMPDIR:-/tmp}/polaformer_kernel_selftest
  sanitizer=$(command -v compute-sanitizer || ls -d /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | sort -rV | head -1)
  if [ -n "$sanitizer" ] && [ -x "$selftest" ]; then
    timeout "$STAGE_SECONDS" "$sanitizer" --tool memcheck --error-exitcode 3 "$selftest" > "$RESULTS/memcheck.log" 2>&1
    echo $? > "$RESULTS/memcheck.rc"
  fi
}
kernel_rows() {
  [ -f "$RESULTS/kernel-selftest.rc" ] || { row "kernel self-test" "not run"; return; }
  echo; echo "---- kernel self-test"
  grep -E "FAIL|summary|passed|error" "$RESULTS/kernel-selftest.log" | tail -n 8
  if [ "$(cat "$RESULTS/kernel-selftest.rc")" = 0 ]; then
    row "kernel self-test" "PASS: $(grep -c PASS "$RESULTS/kernel-selftest.log") checks  [kernel-selftest.log]"
  else
    row "kernel self-test" "FAIL: $(grep -c FAIL "$RESULTS/kernel-selftest.log") failed  [kernel-selftest.log]"; FAILED=1
  fi
  if [ -f "$RESULTS/memcheck.rc" ]; then
    local rc errors
    rc=$(cat "$RESULTS/memcheck.rc")
    errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) error.*/\1/p' "$RESULTS/memcheck.log" | tail -n 1)
    if [ "$rc" -eq 0 ]; then row "memcheck (kernel self-test)" "clean: ${errors:-0} errors  [memcheck.log]"
    else row "memcheck (kernel self-test)" "FAIL: ${errors:-?} errors, exit $rc  [memcheck.log]"; FAILED=1; fi
  else
    row "memcheck (kernel self-test)" "not run: no compute-sanitizer or no self-test binary"
  fi
}
KERNEL_PID=""
if [ "$RUN_TESTS" = 1 ] && [ "$GPU" != none ] && [ -f "$PACK/native/selftest.sh" ]; then
  kernel_check & KERNEL_PID=$!
fi

if [ "$RUN_TESTS" = 1 ]; then
  junit pool-unit --select-class=dev.polaformer.cuda.DeviceMemoryTest
  junit "op-parity-$BACKEND" -Dpolaformer.parity.backend="$BACKEND" \
      --select-class=dev.polaformer.numerics.cpu.PointwiseParityTest \
      --select-class=dev.polaformer.numerics.cpu.NormalizationParityTest \
      --select-class=dev.polaformer.numerics.cpu.ConvolutionParityTest \
      --select-class=dev.polaformer.numerics.cpu.AttentionParityTest
  junit "golden-$BACKEND" -Dpolaformer.golden.backends="$BACKEND" -Dpolaformer.golden.dir="$GOLDEN_DIR" \
      --select-class=dev.polaformer.golden.GoldenParityTest
  if [ "$BACKEND" != cuda ]; then
    # Shows that, and why, cuda cannot run here: every test reported skipped with the provider's reason.
    junit op-parity-cuda-availability -Dpolaformer.parity.backend=cuda \
        --select-class=dev.polaformer.numerics.cpu.PointwiseParityTest
  fi
fi

if [ -n "$KERNEL_PID" ]; then wait "$KERNEL_PID"; kernel_rows; fi

# The same short training run (b0 on the bundled Fashion-MNIST subset at 32 px, same seed) on cpu and on the backend under test: the
# losses must fall alike. Compared as means over windows of 25 steps, against the spread of the loss inside them.
train_run() { # backend
  timeout "$STAGE_SECONDS" "$JAVA" "${FLAGS[@]}" -Dpolaformer.backend="$1" -cp "$CP" dev.polaformer.cli.Main train \
      --recipe small --epochs 20 --warmup-epochs 0 --max-steps "$TRAIN_STEPS" --seed 7 \
      -o "$RESULTS/train-$1" > "$RESULTS/train-$1.log" 2>&1
}
losses() { sed -n 's/.*"type":"step".*"step":\([0-9]*\),.*"loss":\([-0-9.eE]*\),.*/\1 \2/p' "$RESULTS/train-$1/metrics.jsonl" 2>/dev/null; }
# Without a GPU this compares cpu with cpu over a few steps: a check of the harness, not of a backend.
[ -n "$QUICK" ] && [ "$TRAIN_STEPS" -gt 30 ] && TRAIN_STEPS=30
if [ "$RUN_TRAIN" = 1 ]; then
  echo; echo "---- training: $TRAIN_STEPS steps of b0 on the bundled Fashion-MNIST subset, cpu and $BACKEND, seed 7"
  train_run cpu & cpu_pid=$!
  train_run "$BACKEND"; dev_rc=$?
  wait "$cpu_pid"; cpu_rc=$?
  paste <(losses cpu) <(losses "$BACKEND") | awk -v dev="$BACKEND" -v w=25 '
    NF == 4 { i = int($1 / w); a[i] += $2; b[i] += $4; a2[i] += $2 * $2; n[i]++; last = i }
    END {
      printf "%-12s %10s %10s %10s %10s\n", "steps", "cpu", dev, "diff", "spread"
      worst = 0
      for (k = 0; k <= last; k++) if (n[k] > 0) {
        ma = a[k] / n[k]; mb = b[k] / n[k]; sd = sqrt(a2[k] / n[k] - ma * ma)
        printf "%-12s %10.4f %10.4f %10.4f %10.4f\n", k * w "-" (k * w + n[k] - 1), ma, mb, mb - ma, sd
        d = mb > ma ? mb - ma : ma - mb
        if (sd > 0 && d / sd > worst) worst = d / sd
        first_a = (k == 0) ? ma : first_a; first_b = (k == 0) ? mb : first_b
      }
      printf "SUMMARY %d windows; first window %.3f / %.3f, last %.3f / %.3f; largest |diff| = %.2f x spread\n", \
        last + 1, first_a, first_b, ma, mb, worst
    }' | tee "$RESULTS/train-compare.txt"
  summary=$(sed -n 's/^SUMMARY //p' "$RESULTS/train-compare.txt")
  if [ "$dev_rc" -ne 0 ] || [ "$cpu_rc" -ne 0 ] || [ -z "$summary" ]; then
    row "training cpu vs $BACKEND" "FAIL (exit cpu $cpu_rc, $BACKEND $dev_rc)  [train-*.log]"; FAILED=1
    tail -n 15 "$RESULTS/train-$BACKEND.log"
  else
    row "training cpu vs $BACKEND (loss, 25-step means)" "$summary  [train-compare.txt]"
  fi
fi

if [ "$RUN_BENCH" = 1 ]; then
  echo; echo "---- benchmarks on $BACKEND ${QUICK:+(quick: small batches and images, a harness check only)}"
  timeout "$STAGE_SECONDS" "$JAVA" "${FLAGS[@]}" -Dpolaformer.backend="$BACKEND" -cp "$CP" dev.polaformer.bench.DeviceBenchmark \
      $QUICK --seconds "$SECONDS_PER_BENCH" 2>&1 | tee "$RESULTS/bench.log" | grep -v "^WARNING: Using incubator"
  [ "${PIPESTATUS[0]}" -eq 0 ] || { row "benchmarks" "FAIL (see bench.log)"; FAILED=1; }
  while read -r _ name rest; do row "$name" "$rest"; done < <(grep '^RESULT ' "$RESULTS/bench.log")
fi

echo
echo "================================ summary ================================"
printf '%-44s %s\n' "machine" "GPU: $GPU"
printf '%-44s %s\n' "backend" "$BACKEND$( [ -n "$QUICK" ] && echo ' (quick benchmarks)')"
grep -m1 '^backend: ' "$RESULTS/bench.log" 2>/dev/null | cut -c10- | sed 's/^/described                                    /'
for r in "${ROWS[@]}"; do echo "$r"; done
echo "logs                                         $RESULTS"
exit $FAILED
