// Helpers shared by the kernel families. Only built-ins: NVRTC compiles these sources as nvcc does.
// Each family file includes this header; polaformer_kernels.cu includes every family, so the fatbin (and an
// NVRTC build of that file, given the others as headers) is one module.
#pragma once

// Row groups of the column-reduction blocks (32 columns × PF_ROW_GROUPS rows; CudaKernels.ROW_GROUPS).
#define PF_ROW_GROUPS 8

// A 1-D grid-stride loop: blocks of blockDim.x threads, any grid size.
#define PF_FOR_EACH(i, count) \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (long long)(count); \
         i += (long long)gridDim.x * blockDim.x)

// The dynamic shared memory of a launch (sized by CudaKernels), declared once for all kernels. (The CPU
// emulation of the self-test, src/test/cuda/cpu_emulation.h, provides its own.)
#ifndef PF_CPU_EMULATION
extern __shared__ float pf_dynamic_shared[];
#endif

// Warp sums by a fixed butterfly, so every lane gets the same, repeatable result.
__device__ __forceinline__ double pf_warp_sum(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float pf_warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float pf_warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

__device__ __forceinline__ float pf_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

__device__ __forceinline__ float pf_negative_infinity() { return -__int_as_float(0x7f800000); }
