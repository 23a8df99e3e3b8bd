// Elementwise, broadcasting, row-wise and loss kernels of the PolaFormer++ CUDA backend.
//
// Every kernel here mirrors an op of dev.polaformer.numerics.Backend; the maths is that of the reference
// backend (numerics/.../reference/PointwiseKernels.java, Ops.java). The launch geometry is computed by
// dev.polaformer.cuda.CudaKernels, named in each kernel's comment:
//   "1-D": blocks of 256 threads, grid capped at 65536, the kernel loops with a grid stride.
// Reductions are done per thread in double and combined by a fixed tree, so results are repeatable.
// Only built-ins are used (no headers), so NVRTC compiles this file as nvcc does.

#include "pf_common.cuh"

#define PF_BLOCK 256

// Sum over a block of PF_BLOCK threads in a fixed order (warp trees, then warp 0 over the warp sums);
// every thread gets the result. `scratch` holds PF_BLOCK / 32 doubles.
__device__ double pf_block_sum(double v, double* scratch) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    v = pf_warp_sum(v);
    __syncthreads(); // scratch may still be read by a previous call
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    double total = 0;
    for (int w = 0; w < PF_BLOCK / 32; w++) total += scratch[w];
    return total;
}

__device__ float pf_block_max(float v, float* scratch) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    v = pf_warp_max(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    float m = scratch[0];
    for (int w = 1; w < PF_BLOCK / 32; w++) m = fmaxf(m, scratch[w]);
    return m;
}

// ---------------------------------------------------------------- fills and scaling (1-D)

extern "C" __global__ void pf_fill(float* y, int n, float value) {
    PF_FOR_EACH(i, n) y[i] = value;
}

extern "C" __global__ void pf_scale(const float* x, float* y, int n, float alpha) {
    PF_FOR_EACH(i, n) y[i] = alpha * x[i];
}

extern "C" __global__ void pf_add_scaled(const float* x, float* y, int n, float alpha) {
    PF_FOR_EACH(i, n) y[i] += alpha * x[i];
}

// ---------------------------------------------------------------- activations (1-D)

// Exact GELU, 0.5·x·(1 + erf(x/√2)), as PyTorch's default (not the tanh approximation).
extern "C" __global__ void pf_gelu(const float* x, float* y, int n) {
    PF_FOR_EACH(i, n) {
        float v = x[i];
        y[i] = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
    }
}

// d gelu/dx = Φ(x) + x·φ(x).
extern "C" __global__ void pf_gelu_backward(const float* x, const float* dy, float* dx, int n) {
    PF_FOR_EACH(i, n) {
        float v = x[i];
        float cdf = 0.5f * (1.0f + erff(v * 0.70710678118654752f));
        float pdf = 0.39894228040143268f * expf(-0.5f * v * v);
        dx[i] = dy[i] * (cdf + v * pdf);
    }
}

extern "C" __global__ void pf_silu(const float* x, float* y, int n) {
    PF_FOR_EACH(i, n) {
        float v = x[i];
        y[i] = v / (1.0f + expf(-v));
    }
}

extern "C" __global__ void pf_silu_backward(const float* x, const float* dy, float* dx, int n) {
    PF_FOR_EACH(i, n) {
        float v = x[i];
        float s = 1.0f / (1.0f + expf(-v));
        dx[i] = dy[i] * s * (1.0f + v * (1.0f - s));
    }
}

// ---------------------------------------------------------------- broadcasting and copies (1-D)

// out = a (op) b over the 4-D shape (d0..d3); a and out contiguous, b read with strides (s0..s3), 0 along the
// dimensions it is broadcast in. One parameterised body for add and multiply.
template <bool MUL>
__device__ __forceinline__ void pf_broadcast(const float* a, const float* b, float* out, int d0, int d1, int d2,
                                             int d3, int s0, int s1, int s2, int s3) {
    long long total = (long long)d0 * d1 * d2 * d3;
    PF_FOR_EACH(i, total) {
        long long r = i;
        int i3 = (int)(r % d3); r /= d3;
        int i2 = (int)(r % d2); r /= d2;
        int i1 = (int)(r % d1);
        int i0 = (int)(r / d1);
        float bv = b[(long long)i0 * s0 + (long long)i1 * s1 + (long long)i2 * s2 + (long long)i3 * s3];
        out[i] = MUL ? a[i] * bv : a[i] + bv;
    }
}

extern "C" __global__ void pf_broadcast_add(const float* a, const float* b, float* out, int d0, int d1, int d2,
                                            int d3, int s0, int s1, int s2, int s3) {
    pf_broadcast<false>(a, b, out, d0, d1, d2, d3, s0, s1, s2, s3);
}

extern "C" __global__ void pf_broadcast_mul(const float* a, const float* b, float* out, int d0, int d1, int d2,
                                            int d3, int s0, int s1, int s2, int s3) {
    pf_broadcast<true>(a, b, out, d0, d1, d2, d3, s0, s1, s2, s3);
}

// dst = src over the 4-D shape (d0..d3), each with its own element strides.
extern "C" __global__ void pf_copy_strided(const float* src, float* dst, int d0, int d1, int d2, int d3,
                                           int s0, int s1, int s2, int s3, int t0, int t1, int t2, int t3) {
    long long total = (long long)d0 * d1 * d2 * d3;
    PF_FOR_EACH(i, total) {
        long long r = i;
        long long i3 = r % d3; r /= d3;
        long long i2 = r % d2; r /= d2;
        long long i1 = r % d1;
        long long i0 = r / d1;
        dst[i0 * t0 + i1 * t1 + i2 * t2 + i3 * t3] = src[i0 * s0 + i1 * s1 + i2 * s2 + i3 * s3];
    }
}

// out (+)= Σ a (or Σ a⊙b when b is not null) over the dimensions where out's shape (e0..e3) is 1 and a's
// (d0..d3) is not. Block (32, 8), grid ceil(|out| / 32): lane x owns one output element, the 8 row groups
// split the reduced elements round-robin and are added in group order, each in double.
extern "C" __global__ void pf_reduce_to(const float* a, const float* b, float* out, int d0, int d1, int d2, int d3,
                                        int e0, int e1, int e2, int e3, int accumulate) {
    __shared__ double part[PF_ROW_GROUPS][32];
    int d[4] = {d0, d1, d2, d3}, e[4] = {e0, e1, e2, e3};
    long long outSize = (long long)e0 * e1 * e2 * e3;
    long long o = (long long)blockIdx.x * 32 + threadIdx.x;
    bool active = o < outSize;
    // Coordinates of this output element, the contiguous strides of a, and the count of reduced elements.
    long long coord[4], stride[4], reduced = 1;
    long long r = active ? o : 0, acc = 1;
    for (int k = 3; k >= 0; k--) {
        coord[k] = r % e[k];
        r /= e[k];
        stride[k] = acc;
        acc *= d[k];
        if (e[k] == 1) reduced *= d[k];
    }
    double sum = 0;
    if (active) {
        long long base = 0;
        for (int k = 0; k < 4; k++) base += coord[k] * stride[k];
        for (long long q = threadIdx.y; q < reduced; q += blockDim.y) {
            long long rest = q, off = base;
            for (int k = 3; k >= 0; k--) {
                if (e[k] != 1) continue;
                off += (rest % d[k]) * stride[k];
                rest /= d[k];
            }
            sum += b ? (double)a[off] * (double)b[off] : (double)a[off];
        }
    }
    part[threadIdx.y][threadIdx.x] = sum;
    __syncthreads();
    if (threadIdx.y == 0 && active) {
        double total = 0;
        for (int g = 0; g < (int)blockDim.y; g++) total += part[g][threadIdx.x];
        out[o] = accumulate ? (float)((double)out[o] + total) : (float)total;
    }
}

// Dense filter (O, I, kh, kw) → (O, kh, kw, I) for cuDNN's NHWC convolutions (1-D over the destination).
extern "C" __global__ void pf_filter_oihw_to_ohwi(const float* src, float* dst, int o, int in, int kh, int kw) {
    long long total = (long long)o * in * kh * kw;
    PF_FOR_EACH(e, total) {
        long long r = e;
        int ci = (int)(r % in); r /= in;
        int x = (int)(r % kw); r /= kw;
        int y = (int)(r % kh);
        long long co = r / kh;
        dst[e] = src[((co * in + ci) * kh + y) * kw + x];
    }
}

// Filter gradient (O, kh, kw, I) added into PyTorch's (O, I, kh, kw) (1-D over the destination).
extern "C" __global__ void pf_filter_ohwi_add_to_oihw(const float* src, float* dst, int o, int in, int kh, int kw) {
    long long total = (long long)o * in * kh * kw;
    PF_FOR_EACH(e, total) {
        long long r = e;
        int x = (int)(r % kw); r /= kw;
        int y = (int)(r % kh); r /= kh;
        int ci = (int)(r % in);
        long long co = r / in;
        dst[e] += src[((co * kh + y) * kw + x) * in + ci];
    }
}

// ---------------------------------------------------------------- rows: softmax (one block of 256 per row)

extern "C" __global__ void pf_softmax_rows(const float* x, float* y, int rows, int n) {
    __shared__ double dscratch[PF_BLOCK / 32];
    __shared__ float fscratch[PF_BLOCK / 32];
    const float* xr = x + (long long)blockIdx.x * n;
    float* yr = y + (long long)blockIdx.x * n;
    float m = pf_negative_infinity();
    for (int j = threadIdx.x; j < n; j += PF_BLOCK) m = fmaxf(m, xr[j]);
    m = pf_block_max(m, fscratch);
    double s = 0;
    for (int j = threadIdx.x; j < n; j += PF_BLOCK) {
        float ev = expf(xr[j] - m);
        yr[j] = ev;
        s += ev;
    }
    s = pf_block_sum(s, dscratch);
    float inv = (float)(1.0 / s);
    for (int j = threadIdx.x; j < n; j += PF_BLOCK) yr[j] *= inv;
}

// dx = y ⊙ (dy − Σ dy⊙y) per row.
extern "C" __global__ void pf_softmax_backward_rows(const float* y, const float* dy, float* dx, int rows, int n) {
    __shared__ double dscratch[PF_BLOCK / 32];
    long long base = (long long)blockIdx.x * n;
    double dot = 0;
    for (int j = threadIdx.x; j < n; j += PF_BLOCK) dot += (double)dy[base + j] * y[base + j];
    float t = (float)pf_block_sum(dot, dscratch);
    for (int j = threadIdx.x; j < n; j += PF_BLOCK) dx[base + j] = y[base + j] * (dy[base + j] - t);
}

// ---------------------------------------------------------------- rotary embedding (1-D over channel pairs)

// Rotates the pair (2i, 2i+1) of each width-wide channel group of token t with table row t:
//   forward  y0 = x0·c0 − x1·s0,  y1 = x1·c1 + x0·s1
//   inverse  y0 = x0·c0 + x1·s1,  y1 = −x0·s0 + x1·c1   (the transpose, for the backward)
// Each thread reads its pair before writing it, so y may be x.
template <bool INVERSE>
__device__ __forceinline__ void pf_rotary(const float* x, float* y, const float* sin, const float* cos, int batch,
                                          int n, int c, int width) {
    long long pairs = (long long)batch * n * c / 2;
    PF_FOR_EACH(p, pairs) {
        long long e = 2 * p;
        int ch = (int)(e % c);
        long long t = (e / c) % n;
        long long tab = t * width + ch % width;
        float a = x[e], b = x[e + 1];
        float c0 = cos[tab], c1 = cos[tab + 1], s0 = sin[tab], s1 = sin[tab + 1];
        if (INVERSE) {
            y[e] = a * c0 + b * s1;
            y[e + 1] = -a * s0 + b * c1;
        } else {
            y[e] = a * c0 - b * s0;
            y[e + 1] = b * c1 + a * s1;
        }
    }
}

extern "C" __global__ void pf_rope(const float* x, float* y, const float* sin, const float* cos, int batch, int n,
                                   int c, int width) {
    pf_rotary<false>(x, y, sin, cos, batch, n, c, width);
}

extern "C" __global__ void pf_rope_backward(const float* dy, float* dx, const float* sin, const float* cos,
                                            int batch, int n, int c, int width) {
    pf_rotary<true>(dy, dx, sin, cos, batch, n, c, width);
}

// ---------------------------------------------------------------- pooling

// y (b, c) = mean over the n positions of x (b, n, c). Grid (ceil(c/256), b), block 256: one thread per
// channel, neighbours read neighbouring channels (coalesced), the sum in double in position order.
extern "C" __global__ void pf_avgpool(const float* x, float* y, int b, int n, int c) {
    int ch = blockIdx.x * PF_BLOCK + threadIdx.x;
    if (ch >= c) return;
    const float* xb = x + (long long)blockIdx.y * n * c + ch;
    double s = 0;
    for (int t = 0; t < n; t++) s += xb[(long long)t * c];
    y[(long long)blockIdx.y * c + ch] = (float)(s / n);
}

// dx (b, n, c) = dy (b, c) / n (1-D).
extern "C" __global__ void pf_avgpool_backward(const float* dy, float* dx, int b, int n, int c) {
    long long total = (long long)b * n * c;
    PF_FOR_EACH(e, total) {
        long long p = e / ((long long)n * c);
        int ch = (int)(e % c);
        dx[e] = dy[p * c + ch] / (float)n;
    }
}

// ---------------------------------------------------------------- loss and norms

// Soft-target cross-entropy, one block of 256 per row r, all in double (a confident prediction's loss is a
// small difference of large terms): rowLoss[r] = Σ_j t_j·(lse − l_j); dLogits (nullable) =
// (softmax(l)·Σt − t)/b. The caller sums rowLoss in row order and divides by b.
extern "C" __global__ void pf_cross_entropy(const float* logits, const float* targets, float* dLogits,
                                            double* rowLoss, int b, int k) {
    __shared__ double dscratch[PF_BLOCK / 32];
    __shared__ float fscratch[PF_BLOCK / 32];
    long long base = (long long)blockIdx.x * k;
    float mf = pf_negative_infinity();
    for (int j = threadIdx.x; j < k; j += PF_BLOCK) mf = fmaxf(mf, logits[base + j]);
    double m = pf_block_max(mf, fscratch);
    double s = 0;
    for (int j = threadIdx.x; j < k; j += PF_BLOCK) s += exp((double)logits[base + j] - m);
    s = pf_block_sum(s, dscratch);
    double lse = m + log(s);
    double loss = 0, tsum = 0;
    for (int j = threadIdx.x; j < k; j += PF_BLOCK) {
        double t = targets[base + j];
        loss += t * (lse - (double)logits[base + j]);
        tsum += t;
    }
    loss = pf_block_sum(loss, dscratch);
    tsum = pf_block_sum(tsum, dscratch);
    if (threadIdx.x == 0) rowLoss[blockIdx.x] = loss;
    if (dLogits) {
        for (int j = threadIdx.x; j < k; j += PF_BLOCK) {
            double p = exp((double)logits[base + j] - lse);
            dLogits[base + j] = (float)((p * tsum - (double)targets[base + j]) / b);
        }
    }
}

// Σ x² in double: block p (of gridDim.x, a function of n chosen by CudaKernels) sums elements
// p·256 + tid, strided by the grid, and writes partials[p].
extern "C" __global__ void pf_sum_squares(const float* x, double* partials, int n) {
    __shared__ double dscratch[PF_BLOCK / 32];
    double s = 0;
    PF_FOR_EACH(i, n) {
        double v = x[i];
        s += v * v;
    }
    s = pf_block_sum(s, dscratch);
    if (threadIdx.x == 0) partials[blockIdx.x] = s;
}
