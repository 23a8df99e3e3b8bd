#!/usr/bin/env bash
# Builds and runs the kernel self-test (src/test/cuda/kernel_selftest.cu), printing one PASS/FAIL line per
# check and a summary; exit status 0 when all pass. Not part of the Maven build.
#   selftest.sh          on the GPU: nvcc (PATH or /usr/local/cuda*/bin), native code for this machine's GPU
#   selftest.sh --cpu    without a GPU: g++ through src/test/cuda/cpu_emulation.h (about 20 s on 2 cores)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${TMPDIR:-/tmp}/polaformer_kernel_selftest
if [[ ${1:-} == --cpu ]]; then
    g++ -std=c++20 -O1 -pthread -DPF_CPU_EMULATION -Wno-unknown-pragmas -x c++ -o "$out" \
        "$here/src/test/cuda/kernel_selftest.cu"
else
    nvcc=$(command -v nvcc || ls -d /usr/local/cuda*/bin/nvcc 2>/dev/null | sort -rV | head -1)
    [[ -n $nvcc ]] || { echo "selftest: no nvcc found (try --cpu)"; exit 2; }
    "$nvcc" -std=c++17 -O2 -arch=native -o "$out" "$here/src/test/cuda/kernel_selftest.cu"
fi
exec "$out"
