// Just enough of CUDA to run the kernels on the CPU, for kernel_selftest.cu where no GPU exists:
//   g++ -std=c++20 -O1 -pthread -DPF_CPU_EMULATION -x c++ -o selftest_cpu native/src/test/cuda/kernel_selftest.cu
// Blocks run one after another; the threads of a block run as real threads, so __syncthreads and __syncwarp
// are barriers and warp shuffles exchange through a per-warp slot array between two barriers. That keeps
// CUDA's semantics for kernels that synchronise correctly (a missing barrier may or may not show as a race).
// __shared__ arrays become function statics — one copy, which is right because only one block runs at a time —
// and the dynamic shared memory is filled with NaN before each block so a read of an unwritten slot shows.
// Not a performance model, and not a substitute for running on a GPU.
#pragma once
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <thread>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(x)
#define __shared__ static

struct uint3 { unsigned x = 0, y = 0, z = 0; };
struct dim3 {
    unsigned x, y, z;
    dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

inline thread_local uint3 threadIdx, blockIdx;
inline thread_local dim3 blockDim, gridDim;

namespace pf_emu {
inline thread_local std::barrier<>* blockBarrier;
inline thread_local std::barrier<>* warpBarrier;
inline thread_local double* warpSlots;
inline thread_local int lane;
inline std::vector<float> dynamicShared(1 << 16);
}  // namespace pf_emu

inline float* const pf_dynamic_shared = pf_emu::dynamicShared.data();

inline void __syncthreads() { pf_emu::blockBarrier->arrive_and_wait(); }
inline void __syncwarp(unsigned = 0xffffffffu) { pf_emu::warpBarrier->arrive_and_wait(); }

template <class T>
inline T __shfl_xor_sync(unsigned, T v, int offset) {
    pf_emu::warpSlots[pf_emu::lane] = (double)v;
    pf_emu::warpBarrier->arrive_and_wait();
    T r = (T)pf_emu::warpSlots[pf_emu::lane ^ offset];
    pf_emu::warpBarrier->arrive_and_wait();
    return r;
}

inline float __int_as_float(int i) {
    float f;
    std::memcpy(&f, &i, sizeof f);
    return f;
}
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
// Round-to-nearest intrinsics that CUDA never contracts into an fma; plain C++ here does not contract either.
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline int min(int a, int b) { return a < b ? a : b; }

namespace pf_emu {
// Runs kernel(args...) over the grid, one block at a time, each block's threads concurrently.
template <class... P>
struct Launch {
    void (*kernel)(P...);
    dim3 grid, block;
    size_t shared;
    Launch(void (*k)(P...), dim3 g, dim3 b, size_t s = 0) : kernel(k), grid(g), block(b), shared(s) {}

    template <class... A>
    void operator()(A... args) const {
        int threads = block.x * block.y * block.z, warps = (threads + 31) / 32;
        if (shared > dynamicShared.size() * sizeof(float)) {
            std::printf("emulation: %zu bytes of dynamic shared memory requested\n", shared);
            std::exit(3);
        }
        for (unsigned bz = 0; bz < grid.z; bz++)
            for (unsigned by = 0; by < grid.y; by++)
                for (unsigned bx = 0; bx < grid.x; bx++) {
                    std::fill(dynamicShared.begin(), dynamicShared.end(), std::numeric_limits<float>::quiet_NaN());
                    std::barrier<> blockBar(threads);
                    std::vector<std::unique_ptr<std::barrier<>>> warpBars;
                    std::vector<double> slots(warps * 32);
                    for (int w = 0; w < warps; w++) {
                        warpBars.push_back(std::make_unique<std::barrier<>>(std::min(32, threads - 32 * w)));
                    }
                    std::vector<std::thread> pool;
                    for (int t = 0; t < threads; t++) {
                        pool.emplace_back([&, t] {
                            threadIdx.x = t % block.x;
                            threadIdx.y = (t / block.x) % block.y;
                            threadIdx.z = t / (block.x * block.y);
                            blockIdx.x = bx; blockIdx.y = by; blockIdx.z = bz;
                            blockDim = block;
                            gridDim = grid;
                            blockBarrier = &blockBar;
                            warpBarrier = warpBars[t / 32].get();
                            warpSlots = slots.data() + 32 * (t / 32);
                            lane = t % 32;
                            kernel(args...);
                            // A thread that leaves must not hold back the barriers of those still running.
                            warpBarrier->arrive_and_drop();
                            blockBarrier->arrive_and_drop();
                        });
                    }
                    for (auto& th : pool) th.join();
                }
    }
};
}  // namespace pf_emu

// The runtime API calls kernel_selftest.cu makes, on host memory.
enum cudaError_t { cudaSuccess = 0 };
enum cudaMemcpyKind { cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost };
struct cudaDeviceProp { char name[256]; int major, minor; };
template <class T>
inline cudaError_t cudaMalloc(T** p, size_t bytes) {
    *p = (T*)std::calloc(1, bytes);
    return cudaSuccess;
}
inline cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind) {
    std::memcpy(dst, src, bytes);
    return cudaSuccess;
}
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline const char* cudaGetErrorName(cudaError_t) { return "cudaSuccess"; }
inline const char* cudaGetErrorString(cudaError_t) { return "no error"; }
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int) {
    std::snprintf(p->name, sizeof p->name, "CPU emulation (cpu_emulation.h)");
    p->major = 0;
    p->minor = 0;
    return cudaSuccess;
}
