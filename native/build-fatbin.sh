#!/usr/bin/env bash
# Builds the kernel image dev/polaformer/cuda/polaformer_kernels.fatbin (SASS for sm_80 and sm_90, PTX for
# compute_90 so newer GPUs JIT it) from src/main/cuda/polaformer_kernels.cu. Run by Maven (native/pom.xml);
# without nvcc it prints one line and succeeds, because the jar still carries the .cu sources, which the
# backend compiles with NVRTC at first use.
#
#   build-fatbin.sh <source dir> <output dir> [skip: true|false]
# nvcc is looked for on the PATH, then in /usr/local/cuda*/bin (newest version first).
set -euo pipefail
src=$1 out=$2 skip=${3:-false}

if [[ $skip == true ]]; then
    echo "[native] polaformer_kernels.fatbin skipped: -Dpolaformer.nvcc.skip=true (sources packaged for NVRTC)"
    exit 0
fi
nvcc=$(command -v nvcc || true)
if [[ -z $nvcc ]]; then
    for dir in $(ls -d /usr/local/cuda*/bin 2>/dev/null | sort -rV); do
        if [[ -x $dir/nvcc ]]; then nvcc=$dir/nvcc; break; fi
    done
fi
if [[ -z $nvcc ]]; then
    echo "[native] polaformer_kernels.fatbin skipped: no nvcc on the PATH or in /usr/local/cuda*/bin (sources packaged for NVRTC)"
    exit 0
fi

target=$out/polaformer_kernels.fatbin
# Rebuild only when a source is newer than the image (the build is ~1 minute of CPU).
if [[ -f $target && -z $(find "$src" -newer "$target" -name '*.cu*' -print -quit) ]]; then
    echo "[native] polaformer_kernels.fatbin up to date"
    exit 0
fi
mkdir -p "$out"
echo "[native] building polaformer_kernels.fatbin with $nvcc"
"$nvcc" -fatbin -std=c++17 -O3 \
    -gencode arch=compute_80,code=sm_80 \
    -gencode arch=compute_90,code=sm_90 \
    -gencode arch=compute_90,code=compute_90 \
    -o "$target.tmp" "$src/polaformer_kernels.cu"
mv "$target.tmp" "$target"
