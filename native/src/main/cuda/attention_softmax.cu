// Softmax attention with 2-D RoPE for stages 2–3 of PolaFormer++ (spec §1.8), flash-style: no N×N matrix is
// ever stored. Per batch and head, d = C/heads, tables sin/cos (N, d):
//   q̃ = rope(q), k̃ = rope(k),  out_i = Σ_j softmax_j(d^−½ q̃_i·k̃_j) v_j
// The maths is dev.polaformer.numerics.SoftmaxAttention and reference AttentionKernels.softmaxForward/Backward.
// Operands (B, N, C) have unit-stride rows and a row stride each (column slices of qkvo; batch stride =
// N·rowStride).
//
// Geometry (CudaKernels): grid (ceil(N/64), B·heads), 64 threads, one query row (or, in the key/value
// backward, one key row) per thread held in registers; the other side streams through shared memory in
// tiles of 64 rows (rotated once per tile), which every thread then reads at the same address (broadcast).
// Forward: online softmax (running max and sum rescaled per key), writes lse = max + log Σ exp per row.
// Backward (stateless, like the CPU backend): the forward runs again for out and lse, then
//   _backward_dq:  delta_i = dO_i·O_i, dS_ij = P_ij (dO_i·v_j − delta_i), dq = rotᵀ(d^−½ Σ_j dS_ij k̃_j)
//   _backward_dkv: dv_j = Σ_i P_ij dO_i,  dk = rotᵀ(d^−½ Σ_i dS_ij q̃_i)
// each owning its outputs, so no atomics. Register rows are sized by a template width D (32 or 64, the
// "_d32"/"_d64" kernels): the unrolled loops guard e < d, so any even d ≤ D works, and d = 32 (every model
// size) does not pay for 64 registers a row.

#include "pf_common.cuh"

#define PF_SA_TILE 64

// Loads the rotated, scaled row (x rows of width d at `row`, table row `tab`) into registers.
template <int D>
__device__ __forceinline__ void pf_sa_load_row(const float* row, const float* sin, const float* cos, long long tab,
                                               int d, float scale, float* r) {
#pragma unroll
    for (int e = 0; e < D; e += 2) {
        if (e < d) {
            float a = row[e], b = row[e + 1];
            r[e] = (a * cos[tab + e] - b * sin[tab + e]) * scale;
            r[e + 1] = (b * cos[tab + e + 1] + a * sin[tab + e + 1]) * scale;
        } else {
            r[e] = 0.0f;
            r[e + 1] = 0.0f;
        }
    }
}

// Writes rotᵀ(scale·g) (the gradient of a rotated row back to the unrotated one) to `row`.
template <int D>
__device__ __forceinline__ void pf_sa_store_unrotated(float* row, const float* sin, const float* cos, long long tab,
                                                      int d, float scale, const float* g) {
#pragma unroll
    for (int e = 0; e < D; e += 2) {
        if (e < d) {
            float a = g[e] * scale, b = g[e + 1] * scale;
            row[e] = a * cos[tab + e] + b * sin[tab + e + 1];
            row[e + 1] = -a * sin[tab + e] + b * cos[tab + e + 1];
        }
    }
}

// Cooperatively loads `count` rows starting at token j0 of x into tile (row-major, width d): rotated and
// scaled when `rotate`, plain otherwise; rows past count are zero.
__device__ __forceinline__ void pf_sa_load_tile(const float* x, int rowStride, long long tokenBase, int j0,
                                                int count, const float* sin, const float* cos, int d, bool rotate,
                                                float scale, float* tile) {
    int pairs = d / 2;
    for (int idx = threadIdx.x; idx < PF_SA_TILE * pairs; idx += blockDim.x) {
        int jj = idx / pairs, e = 2 * (idx % pairs);
        float y0 = 0.0f, y1 = 0.0f;
        if (jj < count) {
            const float* r = x + (tokenBase + j0 + jj) * rowStride;
            float a = r[e], b = r[e + 1];
            if (rotate) {
                long long tab = (long long)(j0 + jj) * d + e;
                y0 = (a * cos[tab] - b * sin[tab]) * scale;
                y1 = (b * cos[tab + 1] + a * sin[tab + 1]) * scale;
            } else {
                y0 = a;
                y1 = b;
            }
        }
        tile[jj * d + e] = y0;
        tile[jj * d + e + 1] = y1;
    }
}

template <int D>
__device__ __forceinline__ float pf_sa_dot(const float* r, const float* t, int d) {
    float s = 0.0f;
#pragma unroll
    for (int e = 0; e < D; e++) if (e < d) s += r[e] * t[e];
    return s;
}

template <int D>
__device__ __forceinline__ void pf_sa_forward(const float* q, int qRowStride, const float* k, int kRowStride,
                                              const float* v, int vRowStride, const float* sin, const float* cos,
                                              float* out, int outRowStride, float* lse, int b, int n, int c,
                                              int heads) {
    float* smem = pf_dynamic_shared;
    int d = c / heads, bh = blockIdx.y, batch = bh / heads, h = bh % heads;
    float* kt = smem;
    float* vt = smem + PF_SA_TILE * d;
    int i = blockIdx.x * PF_SA_TILE + threadIdx.x;
    bool valid = i < n;
    long long tokenBase = (long long)batch * n;
    float scale = rsqrtf((float)d);
    float qr[D], acc[D];
    if (valid) pf_sa_load_row<D>(q + (tokenBase + i) * qRowStride + h * d, sin, cos, (long long)i * d, d, scale, qr);
#pragma unroll
    for (int e = 0; e < D; e++) acc[e] = 0.0f;
    float mx = pf_negative_infinity(), l = 0.0f;
    for (int j0 = 0; j0 < n; j0 += PF_SA_TILE) {
        int count = min(PF_SA_TILE, n - j0);
        __syncthreads();
        pf_sa_load_tile(k + h * d, kRowStride, tokenBase, j0, count, sin, cos, d, true, 1.0f, kt);
        pf_sa_load_tile(v + h * d, vRowStride, tokenBase, j0, count, sin, cos, d, false, 1.0f, vt);
        __syncthreads();
        if (!valid) continue;
        for (int jj = 0; jj < count; jj++) {
            float s = pf_sa_dot<D>(qr, kt + jj * d, d);
            if (s > mx) {
                float corr = expf(mx - s);
                l *= corr;
#pragma unroll
                for (int e = 0; e < D; e++) acc[e] *= corr;
                mx = s;
            }
            float p = expf(s - mx);
            l += p;
#pragma unroll
            for (int e = 0; e < D; e++) if (e < d) acc[e] += p * vt[jj * d + e];
        }
    }
    if (!valid) return;
    float* o = out + (tokenBase + i) * outRowStride + h * d;
    float inv = 1.0f / l;
#pragma unroll
    for (int e = 0; e < D; e++) if (e < d) o[e] = acc[e] * inv;
    if (lse) lse[(long long)bh * n + i] = mx + logf(l);
}

template <int D>
__device__ __forceinline__ void pf_sa_backward_dq(const float* q, int qRowStride, const float* k, int kRowStride,
                                                  const float* v, int vRowStride, const float* sin,
                                                  const float* cos, const float* out, int outRowStride,
                                                  const float* lse, const float* dOut, int dOutRowStride, float* dq,
                                                  int dqRowStride, float* delta, int b, int n, int c, int heads) {
    float* smem = pf_dynamic_shared;
    int d = c / heads, bh = blockIdx.y, batch = bh / heads, h = bh % heads;
    float* kt = smem;
    float* vt = smem + PF_SA_TILE * d;
    int i = blockIdx.x * PF_SA_TILE + threadIdx.x;
    bool valid = i < n;
    long long tokenBase = (long long)batch * n;
    float scale = rsqrtf((float)d);
    float qr[D], g[D], acc[D];
    float rowLse = 0.0f, rowDelta = 0.0f;
    if (valid) {
        pf_sa_load_row<D>(q + (tokenBase + i) * qRowStride + h * d, sin, cos, (long long)i * d, d, scale, qr);
        const float* gr = dOut + (tokenBase + i) * dOutRowStride + h * d;
        const float* orow = out + (tokenBase + i) * outRowStride + h * d;
#pragma unroll
        for (int e = 0; e < D; e++) {
            g[e] = e < d ? gr[e] : 0.0f;
            if (e < d) rowDelta += g[e] * orow[e];
        }
        rowLse = lse[(long long)bh * n + i];
        delta[(long long)bh * n + i] = rowDelta;
    }
#pragma unroll
    for (int e = 0; e < D; e++) acc[e] = 0.0f;
    for (int j0 = 0; j0 < n; j0 += PF_SA_TILE) {
        int count = min(PF_SA_TILE, n - j0);
        __syncthreads();
        pf_sa_load_tile(k + h * d, kRowStride, tokenBase, j0, count, sin, cos, d, true, 1.0f, kt);
        pf_sa_load_tile(v + h * d, vRowStride, tokenBase, j0, count, sin, cos, d, false, 1.0f, vt);
        __syncthreads();
        if (!valid) continue;
        for (int jj = 0; jj < count; jj++) {
            float p = expf(pf_sa_dot<D>(qr, kt + jj * d, d) - rowLse);
            float ds = p * (pf_sa_dot<D>(g, vt + jj * d, d) - rowDelta);
#pragma unroll
            for (int e = 0; e < D; e++) if (e < d) acc[e] += ds * kt[jj * d + e];
        }
    }
    if (valid) pf_sa_store_unrotated<D>(dq + (tokenBase + i) * dqRowStride + h * d, sin, cos, (long long)i * d, d,
                                        scale, acc);
}

template <int D>
__device__ __forceinline__ void pf_sa_backward_dkv(const float* q, int qRowStride, const float* k, int kRowStride,
                                                   const float* v, int vRowStride, const float* sin,
                                                   const float* cos, const float* lse, const float* delta,
                                                   const float* dOut, int dOutRowStride, float* dk, int dkRowStride,
                                                   float* dv, int dvRowStride, int b, int n, int c, int heads) {
    float* smem = pf_dynamic_shared;
    int d = c / heads, bh = blockIdx.y, batch = bh / heads, h = bh % heads;
    float* qt = smem;                     // rotated, scaled queries
    float* gt = smem + PF_SA_TILE * d;    // dO rows
    float* lt = gt + PF_SA_TILE * d;      // lse
    float* dt = lt + PF_SA_TILE;          // delta
    int j = blockIdx.x * PF_SA_TILE + threadIdx.x;
    bool valid = j < n;
    long long tokenBase = (long long)batch * n;
    float scale = rsqrtf((float)d);
    float kr[D], vr[D], dka[D], dva[D];
    if (valid) {
        pf_sa_load_row<D>(k + (tokenBase + j) * kRowStride + h * d, sin, cos, (long long)j * d, d, 1.0f, kr);
        const float* vrow = v + (tokenBase + j) * vRowStride + h * d;
#pragma unroll
        for (int e = 0; e < D; e++) vr[e] = e < d ? vrow[e] : 0.0f;
    }
#pragma unroll
    for (int e = 0; e < D; e++) {
        dka[e] = 0.0f;
        dva[e] = 0.0f;
    }
    for (int i0 = 0; i0 < n; i0 += PF_SA_TILE) {
        int count = min(PF_SA_TILE, n - i0);
        __syncthreads();
        pf_sa_load_tile(q + h * d, qRowStride, tokenBase, i0, count, sin, cos, d, true, scale, qt);
        pf_sa_load_tile(dOut + h * d, dOutRowStride, tokenBase, i0, count, sin, cos, d, false, 1.0f, gt);
        if (threadIdx.x < count) {
            lt[threadIdx.x] = lse[(long long)bh * n + i0 + threadIdx.x];
            dt[threadIdx.x] = delta[(long long)bh * n + i0 + threadIdx.x];
        }
        __syncthreads();
        if (!valid) continue;
        for (int ii = 0; ii < count; ii++) {
            const float* qi = qt + ii * d;
            const float* gi = gt + ii * d;
            float p = expf(pf_sa_dot<D>(kr, qi, d) - lt[ii]);
            float ds = p * (pf_sa_dot<D>(vr, gi, d) - dt[ii]);
#pragma unroll
            for (int e = 0; e < D; e++) {
                if (e < d) {
                    dva[e] += p * gi[e];
                    dka[e] += ds * qi[e];
                }
            }
        }
    }
    if (!valid) return;
    // qt is already scaled by d^−½, so dka is the gradient of k̃ itself.
    pf_sa_store_unrotated<D>(dk + (tokenBase + j) * dkRowStride + h * d, sin, cos, (long long)j * d, d, 1.0f, dka);
    float* dvr = dv + (tokenBase + j) * dvRowStride + h * d;
#pragma unroll
    for (int e = 0; e < D; e++) if (e < d) dvr[e] = dva[e];
}

// ---------------------------------------------------------------- the kernels, per register width

extern "C" __global__ void __launch_bounds__(PF_SA_TILE) pf_softmax_attention_forward_d32(
        const float* q, int qRowStride, const float* k, int kRowStride, const float* v, int vRowStride,
        const float* sin, const float* cos, float* out, int outRowStride, float* lse, int b, int n, int c,
        int heads) {
    pf_sa_forward<32>(q, qRowStride, k, kRowStride, v, vRowStride, sin, cos, out, outRowStride, lse, b, n, c, heads);
}

extern "C" __global__ void __launch_bounds__(PF_SA_TILE) pf_softmax_attention_forward_d64(
        const float* q, int qRowStride, const float* k, int kRowStride, const float* v, int vRowStride,
        const float* sin, const float* cos, float* out, int outRowStride, float* lse, int b, int n, int c,
        int heads) {
    pf_sa_forward<64>(q, qRowStride, k, kRowStride, v, vRowStride, sin, cos, out, outRowStride, lse, b, n, c, heads);
}

extern "C" __global__ void __launch_bounds__(PF_SA_TILE) pf_softmax_attention_backward_dq_d32(
        const float* q, int qRowStride, const float* k, int kRowStride, const float* v, int vRowStride,
        const float* sin, const float* cos, const float* out, int outRowStride, const float* lse,
        const float* dOut, int dOutRowStride, float* dq, int dqRowStride, float* delta, int b, int n, int c,
        int heads) {
    pf_sa_backward_dq<32>(q, qRowStride, k, kRowStride, v, vRowStride, sin, cos, out, outRowStride, lse, dOut,
                          dOutRowStride, dq, dqRowStride, delta, b, n, c, heads);
}

extern "C" __global__ void __launch_bounds__(PF_SA_TILE) pf_softmax_attention_backward_dq_d64(
        const float* q, int qRowStride, const float* k, int kRowStride, const float* v, int vRowStride,
        const float* sin, const float* cos, const float* out, int outRowStride, const float* lse,
        const float* dOut, int dOutRowStride, float* dq, int dqRowStride, float* delta, int b, int n, int c,
        int heads) {
    pf_sa_backward_dq<64>(q, qRowStride, k, kRowStride, v, vRowStride, sin, cos, out, outRowStride, lse, dOut,
                          dOutRowStride, dq, dqRowStride, delta, b, n, c, heads);
}

extern "C" __global__ void __launch_bounds__(PF_SA_TILE) pf_softmax_attention_backward_dkv_d32(
        const float* q, int qRowStride, const float* k, int kRowStride, const float* v, int vRowStride,
        const float* sin, const float* cos, const float* lse, const float* delta, const float* dOut,
        int dOutRowStride, float* dk, int dkRowStride, float* dv, int dvRowStride, int b, int n, int c,
        int heads) {
    pf_sa_backward_dkv<32>(q, qRowStride, k, kRowStride, v, vRowStride, sin, cos, lse, delta, dOut, dOutRowStride,
                           dk, dkRowStride, dv, dvRowStride, b, n, c, heads);
}

extern "C" __global__ void __launch_bounds__(PF_SA_TILE) pf_softmax_attention_backward_dkv_d64(
        const float* q, int qRowStride, const float* k, int kRowStride, const float* v, int vRowStride,
        const float* sin, const float* cos, const float* lse, const float* delta, const float* dOut,
        int dOutRowStride, float* dk, int dkRowStride, float* dv, int dvRowStride, int b, int n, int c,
        int heads) {
    pf_sa_backward_dkv<64>(q, qRowStride, k, kRowStride, v, vRowStride, sin, cos, lse, delta, dOut, dOutRowStride,
                           dk, dkRowStride, dv, dvRowStride, b, n, c, heads);
}
