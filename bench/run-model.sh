#!/usr/bin/env bash
# Whole-model benchmark: forward latency of b0/b2 (batch 1 and 8, 1 and 2 threads) and b0 training throughput
# (batch 8 and 32, 2 threads) on the cpu backend; writes the "model" section of bench/RESULTS.md.
#   bench/run-model.sh                         # about 15 minutes on 2 cores
#   bench/run-model.sh -Dbench.forks=1 -Dbench.iterations=3    # quicker, rougher
set -euo pipefail
cd "$(dirname "$0")/.."
. ./scripts/find-jdk.sh
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)  (cores: $(nproc))"
mvn -q -o -pl bench -am package -DskipTests 2>/dev/null || mvn -q -pl bench -am package -DskipTests
exec java --add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow \
  "$@" -cp bench/target/benchmarks.jar dev.polaformer.bench.ModelReport
