#!/usr/bin/env bash
# b0 inference against ONNX Runtime (same weights), over several fresh JVMs; writes the "onnxruntime" section of
# bench/RESULTS.md. Needs ../shared (golden weights and the ONNX export).
#   bench/run-ort.sh                      # 3 JVMs, about 5 minutes
#   bench/run-ort.sh -Dbench.jvms=5
set -euo pipefail
cd "$(dirname "$0")/.."
. ./scripts/find-jdk.sh
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)  (cores: $(nproc))"
mvn -q -o -pl bench -am package -DskipTests 2>/dev/null || mvn -q -pl bench -am package -DskipTests
exec java --add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED "$@" \
  -cp bench/target/benchmarks.jar dev.polaformer.bench.OrtReport
