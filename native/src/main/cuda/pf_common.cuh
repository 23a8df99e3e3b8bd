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

// ---------------------------------------------------------------- two-stage column reductions
// A reduction of n columns over many rows in two launches, deterministic without atomics. Stage 1: blocks of
// 256 threads, 32 columns (lanes: neighbours read neighbouring floats) × PF_ROW_GROUPS row groups, grid
// (ceil(n/32), chunks); block (x, g) sums the rows of chunk g, its groups taking rows round-robin, and stores
// the groups' totals, added in group order, as double partials[(k·chunks + g)·n + column] for each sum k.
// Stage 2: one thread per column adds a sum's partials in chunk order. One block per 32 columns left most of
// the GPU idle when rows (batch·H·W) ran to 10⁵ and c to 32..64; the chunks spread the rows over the SMs.

// The thread's lane (column in the block) and row group; the same for blocks (32, 8) and (256).
__device__ __forceinline__ int pf_lane() { return (threadIdx.y * blockDim.x + threadIdx.x) & 31; }
__device__ __forceinline__ int pf_row_group() { return (threadIdx.y * blockDim.x + threadIdx.x) >> 5; }

// Rows [begin, end) of this block's chunk: gridDim.y chunks of ceil(rows/chunks) rows, the last ones shorter.
__device__ __forceinline__ void pf_chunk_rows(long long rows, long long& begin, long long& end) {
    long long len = (rows + gridDim.y - 1) / gridDim.y;
    begin = (long long)blockIdx.y * len;
    if (begin > rows) begin = rows;
    end = begin + len < rows ? begin + len : rows;
}

// Stage 1's store: every thread of the block calls it with its K sums (a barrier inside).
template <int K>
__device__ void pf_store_partials(const double (&v)[K], double* partials, long long n, long long column) {
    __shared__ double part[K][PF_ROW_GROUPS][32];
    int lane = pf_lane(), group = pf_row_group();
    for (int k = 0; k < K; k++) part[k][group][lane] = v[k];
    __syncthreads();
    if (group != 0 || column >= n) return;
    for (int k = 0; k < K; k++) {
        double total = 0;
        for (int g = 0; g < PF_ROW_GROUPS; g++) total += part[k][g][lane];
        partials[((long long)k * gridDim.y + blockIdx.y) * n + column] = total;
    }
}

// Stage 2: sum k of column i over the chunks, in chunk order.
__device__ __forceinline__ double pf_chunk_total(const double* partials, int chunks, long long n, int k, long long i) {
    const double* p = partials + (long long)k * chunks * n + i;
    double total = 0;
    for (int g = 0; g < chunks; g++) total += p[(long long)g * n];
    return total;
}

__device__ __forceinline__ float pf_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

__device__ __forceinline__ float pf_negative_infinity() { return -__int_as_float(0x7f800000); }
