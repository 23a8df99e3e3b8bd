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

// Exact GELU, x·Φ(x), as PyTorch's default (not the tanh approximation). Φ(x) = erfc(−x/√2)/2 rather than
// (1 + erf(x/√2))/2: for negative x the latter cancels (all bits lost below x ≈ −5). In double, because erfc is
// steep in the tail: a float rounding of −x/√2 alone changes Φ(−4) by 1e-6 relative (measured on the H100:
// 7.6e-7 with erfcf, against 6e-7 allowed); the kernel is memory-bound, so double costs nothing visible.
extern "C" __global__ void pf_gelu(const float* x, float* y, int n) {
    PF_FOR_EACH(i, n) {
        double v = x[i];
        y[i] = (float)(v * 0.5 * erfc(v * -0.70710678118654752));
    }
}

// d gelu/dx = Φ(x) + x·φ(x).
extern "C" __global__ void pf_gelu_backward(const float* x, const float* dy, float* dx, int n) {
    PF_FOR_EACH(i, n) {
        double v = x[i];
        double cdf = 0.5 * erfc(v * -0.70710678118654752);
        double pdf = 0.39894228040143268 * exp(-0.5 * v * v);
        dx[i] = (float)(dy[i] * (cdf + v * pdf));
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
// (d0..d3) is not: a two-stage column reduction (pf_common.cuh) whose columns are the output elements and whose
// rows are the reduced elements. This is stage 1, block (32, 8), grid (ceil(|out| / 32), chunks);
// pf_reduce_finish adds the partials into out.
extern "C" __global__ void pf_reduce_to(const float* a, const float* b, double* partials, int d0, int d1, int d2,
                                        int d3, int e0, int e1, int e2, int e3) {
    int d[4] = {d0, d1, d2, d3}, e[4] = {e0, e1, e2, e3};
    long long outSize = (long long)e0 * e1 * e2 * e3;
    long long o = (long long)blockIdx.x * 32 + pf_lane();
    // The output element's offset in a (contiguous), and the reduced dimensions' sizes and strides, innermost
    // first: the outermost needs no modulo, so a single reduced dimension (bias gradients) costs no division.
    long long r = o < outSize ? o : 0, acc = 1, base = 0, reduced = 1, size[4], stride[4];
    int dims = 0;
    for (int k = 3; k >= 0; k--) {
        if (e[k] == 1) {
            reduced *= d[k];
            if (d[k] > 1) {
                size[dims] = d[k];
                stride[dims++] = acc;
            }
        } else {
            base += r % e[k] * acc;
            r /= e[k];
        }
        acc *= d[k];
    }
    long long begin, end;
    pf_chunk_rows(reduced, begin, end);
    long long outer = dims > 0 ? stride[dims - 1] : 0;
    double sum[1] = {0};
    if (o < outSize) {
        for (long long q = begin + pf_row_group(); q < end; q += PF_ROW_GROUPS) {
            long long rest = q, off = base;
            for (int k = 0; k < dims - 1; k++) {
                off += rest % size[k] * stride[k];
                rest /= size[k];
            }
            off += rest * outer;
            sum[0] += b ? (double)a[off] * (double)b[off] : (double)a[off];
        }
    }
    pf_store_partials(sum, partials, outSize, o);
}

// Stage 2 of pf_reduce_to and of the LayerNorm parameter gradients (1-D over n outputs): out_k (+)= sum k of the
// chunks' partials (k = 0, 1), in double, rounded once; a null out_k is skipped.
extern "C" __global__ void pf_reduce_finish(const double* partials, int chunks, int n, float* out0, float* out1,
                                            int accumulate) {
    PF_FOR_EACH(i, n) {
        float* outs[2] = {out0, out1};
        for (int k = 0; k < 2; k++) {
            if (!outs[k]) continue;
            double total = pf_chunk_total(partials, chunks, n, k, i);
            outs[k][i] = (float)(accumulate ? (double)outs[k][i] + total : total);
        }
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
    // x − m in float loses up to half an ulp of |x − m|, which exp turns into a relative error of that size
    // (5e-7 at x − m = −9): the exponent and the normalisation are taken in double, then rounded once.
    double s = 0;
    for (int j = threadIdx.x; j < n; j += PF_BLOCK) s += exp((double)xr[j] - m);
    s = pf_block_sum(s, dscratch);
    double inv = 1.0 / s;
    for (int j = threadIdx.x; j < n; j += PF_BLOCK) yr[j] = (float)(exp((double)xr[j] - m) * inv);
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
