#!/usr/bin/env bash
# SGEMM benchmark: our Vector API kernel against OpenBLAS (cblas_sgemm through FFM) in one JMH run, then
# 512- against 256-bit vectors; writes the SGEMM section of bench/RESULTS.md.
#
#   bench/run-sgemm.sh                      # the full run (about 20 minutes on 2 cores)
#   QUICK=1 bench/run-sgemm.sh              # a smoke run: 1 fork, short iterations (numbers are rough)
#   bench/run-sgemm.sh -Dbench.shapes=1024x1024x1024:NN -Dbench.threads=2   # any SgemmReport property
#
# The machine may be shared: the script prints the load average first; measure when it is low.
set -euo pipefail
cd "$(dirname "$0")/.."
. ./scripts/find-jdk.sh

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)  (cores: $(nproc))"
mvn -q -o -pl bench -am package -DskipTests 2>/dev/null || mvn -q -pl bench -am package -DskipTests

# OpenBLAS starts its thread pool from this variable; openblas_set_num_threads then picks 1 or 2 of them.
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-$(nproc)}"

props=()
if [ "${QUICK:-0}" = 1 ]; then
  props+=(-Dbench.forks=1 -Dbench.warmup=3 -Dbench.iterations=3)
fi
exec java --add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow \
  "${props[@]}" "$@" -cp bench/target/benchmarks.jar dev.polaformer.bench.SgemmReport
