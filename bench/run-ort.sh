#!/usr/bin/env bash
# Inference against ONNX Runtime (same weights), over several fresh JVMs. By default b0 on ../shared's golden
# weights and their official ONNX export, written to the "onnxruntime" section of bench/RESULTS.md; another
# variant (files from bench/export-onnx.py) goes to its own "onnxruntime-<variant>" section.
#   bench/run-ort.sh                      # b0, 3 JVMs, about 5 minutes
#   bench/run-ort.sh -Dbench.jvms=5
#   bench/run-ort.sh -Dbench.variant=b2 -Dbench.weights=../anchors-local/pola_b2_random.safetensors \
#     -Dbench.onnx=../anchors-local/pola_b2_random.onnx -Dbench.golden=../anchors-local/pola_b2_random_eval.safetensors \
#     -Dbench.warmupLarge=6 -Dbench.roundsLarge=12   # fewer calls at batch 8
set -euo pipefail
cd "$(dirname "$0")/.."
. ./scripts/find-jdk.sh
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)  (cores: $(nproc))"
mvn -q -o -pl bench -am package -DskipTests 2>/dev/null || mvn -q -pl bench -am package -DskipTests
exec java --add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED "$@" \
  -cp bench/target/benchmarks.jar dev.polaformer.bench.OrtReport
