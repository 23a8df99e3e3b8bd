// The fused polarity-aware linear attention of PolaFormer++ (spec §1.7), forward and backward, on (B, N, C)
// operands with unit-stride rows and a row stride each (column slices of qkvg (B, N, 4C) are used in place;
// batch stride = N·rowStride). The maths is dev.polaformer.numerics.LinearAttention and the double oracle
// numerics/.../reference/AttentionKernels.linearForward/linearBackward. Per (batch, head), d = C/heads,
// dd = 2d, half = d/2, rope tables (N, dd):
//   κ(k) = exp([k⁺,k⁻]) − 1,  m = mean_n κ_n,  S = mean_n rope(κ_n)·[v¹|v²]ᵀ           (pf_linear_attention_kv)
//   φsim = exp([q⁺,q⁻]⊙σ1) − 1,  φopp = exp([q⁻,q⁺]⊙σ2) − 1,  z_f = φ_f·m + 1e-6
//   out = [rope(φsim)ᵀS1/z_sim, rope(φopp)ᵀS2/z_opp]                                      (pf_linear_attention_out)
// Backward (as the CPU backend, recomputing m and S with the kv kernel first):
//   pf_linear_attention_dq:   dq, per token 1/z_f and dz_f = −Σ_j g_fj·out_fj/z_f, and per block of tokens the
//                             partial sums dm = Σ dz_f φ_f and dSig_f = Σ dφ_f⊙(φ_f+1)⊙x_f (dφ is at hand there)
//   pf_linear_attention_dsum: dS_f = Σ rope(φ_f)ᵀ(g_f/z_f)
//   pf_linear_attention_dsigma: ds_f += σ_f(1−σ_f)·Σ_b dSig_f
//   pf_linear_attention_dkv:  dv_n = dSᵀR_n/N, dκ_n = rotᵀ(dS·v_n)/N + dm/N, through κ to dk
// Two shapes of kernel:
//   * token sums (kv, dsum): outer-product sums Σ_t L_t ⊗ R_t over the tokens. Grid (B·heads, chunks, tiles),
//     256 threads: a block sums one chunk of tokens for a 64 × 64 tile of the output (64 of the dd rows × 64
//     "virtual" columns, see pf_sum_column), each thread a 4 × 4 register tile (rows ty + 16a, columns tx + 16c:
//     lanes read neighbouring columns, two rows a warp, so no bank conflicts). Tokens are staged 32 at a time in
//     shared memory, the inputs read once per block; a thread sums a staged tile in float and adds it into
//     double, and the block writes its chunk's sums as double partials. pf_linear_attention_finish adds the
//     chunks in order: deterministic without atomics, double-accurate over thousands of tokens. (The former
//     kernels gave a block 4 rows and all the tokens, re-reading v dd/4 times.)
//   * token rows (out, dq, dkv): grid (ceil(N/64), B·heads), 4 warps, one warp per token at a time, 16 tokens a
//     warp. For d ≤ PF_SHARED_S_MAX_D the (batch, head)'s S (or dS) sits in shared memory, rows padded to d + 1
//     floats so lanes walking either a row or a column hit distinct banks, loaded once per 64 tokens; wider heads
//     read it from global memory (L1/L2-resident, dd·d floats) so every block stays within the default 48 KB
//     of dynamic shared memory without an opt-in.
// Head widths up to PF_MAX_D (CudaKernels.LINEAR_MAX_HEAD_DIM): the per-lane accumulators of dq are sized for it;
// the token sums take any width.

#include "pf_common.cuh"

#define PF_SUM_THREADS 256
#define PF_SUM_BLOCK 64
#define PF_SUM_TILE 32
#define PF_WARPS 4
#define PF_TOKENS 64
#define PF_MAX_D 128
#define PF_SHARED_S_MAX_D 64
// Rows of dd a lane owns in dq's per-lane sums: 2·PF_MAX_D / 32.
#define PF_LANE_ROWS 8
#define PF_Z_EPS 1e-6f

// Entry i of the polar split of a channel value: [a⁺, a⁻] for flow 0 (sim, and the keys), [a⁻, a⁺] for flow 1.
__device__ __forceinline__ float pf_polar(float a, int i, int d, int flow) {
    return ((i < d) == (flow == 0)) ? fmaxf(a, 0.0f) : fmaxf(-a, 0.0f);
}

// Rotates the dd-wide row x into y with table row `tab` (forward or transpose), one pair per lane; y may be x.
__device__ __forceinline__ void pf_rotate_row(const float* x, float* y, const float* sin, const float* cos,
                                              long long tab, int dd, bool inverse) {
    for (int p = threadIdx.x & 31; p < dd / 2; p += 32) {
        int i = 2 * p;
        float a = x[i], b = x[i + 1];
        float c0 = cos[tab + i], c1 = cos[tab + i + 1], s0 = sin[tab + i], s1 = sin[tab + i + 1];
        if (inverse) {
            y[i] = a * c0 + b * s1;
            y[i + 1] = -a * s0 + b * c1;
        } else {
            y[i] = a * c0 - b * s0;
            y[i + 1] = b * c1 + a * s1;
        }
    }
}

// ---------------------------------------------------------------- token sums: shared pieces
// Output columns are laid out per flow: `flows` groups (1 for S, 2 for dS_sim | dS_opp) of w = d/flows columns,
// each padded to wp = ceil(w/16)·16 "virtual" columns. A thread's columns tx + 16c then share one flow for each
// c across the block (a 16-aligned group never straddles a flow boundary), so the flow is a uniform branch.

__device__ __forceinline__ int pf_sum_padded(int w) { return (w + 15) / 16 * 16; }

// The output column of virtual column vc, or −1 for padding.
__device__ __forceinline__ int pf_sum_column(int vc, int w, int wp, int flows) {
    int f = vc / wp, j = vc % wp;
    return f < flows && j < w ? f * w + j : -1;
}

// This block's tokens [t0, t1): gridDim.y chunks of ceil(n/chunks), the last ones shorter or empty.
__device__ __forceinline__ void pf_sum_chunk(int n, int& t0, int& t1) {
    int len = (n + gridDim.y - 1) / gridDim.y;
    t0 = min(n, (int)blockIdx.y * len);
    t1 = min(n, t0 + len);
}

// acc[a][c] += Σ_tt L_f[tt][ty + 16a] · R[tt][tx + 16c] over a staged tile of `count` tokens (L_f, R:
// [PF_SUM_TILE][PF_SUM_BLOCK]), summed in float over the tile; column group c uses L1 from virtual column oppFrom
// on (the second flow), L0 before it.
__device__ __forceinline__ void pf_sum_tile(const float* L0, const float* L1, const float* R, int count, int vc0,
                                            int oppFrom, double (&acc)[4][4]) {
    int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    bool opp[4], anyOpp = false;
#pragma unroll
    for (int c = 0; c < 4; c++) {
        opp[c] = vc0 + 16 * c >= oppFrom;
        anyOpp = anyOpp || opp[c];
    }
    float part[4][4] = {};
    for (int tt = 0; tt < count; tt++) {
        float l0[4], l1[4], r[4];
#pragma unroll
        for (int a = 0; a < 4; a++) {
            l0[a] = L0[tt * PF_SUM_BLOCK + ty + 16 * a];
            l1[a] = anyOpp ? L1[tt * PF_SUM_BLOCK + ty + 16 * a] : 0.0f;
        }
#pragma unroll
        for (int c = 0; c < 4; c++) r[c] = R[tt * PF_SUM_BLOCK + tx + 16 * c];
#pragma unroll
        for (int a = 0; a < 4; a++)
#pragma unroll
            for (int c = 0; c < 4; c++) part[a][c] += (opp[c] ? l1[a] : l0[a]) * r[c];
    }
#pragma unroll
    for (int a = 0; a < 4; a++)
#pragma unroll
        for (int c = 0; c < 4; c++) acc[a][c] += part[a][c];
}

// Stores the block's tile of sums into its chunk's partials (dd × d doubles per (batch, head), row-major).
__device__ __forceinline__ void pf_sum_store(const double (&acc)[4][4], double* partials, int r0, int vc0, int dd,
                                             int d, int w, int wp, int flows) {
    int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    double* p = partials + ((long long)blockIdx.y * gridDim.x + blockIdx.x) * dd * d;
#pragma unroll
    for (int a = 0; a < 4; a++) {
        int i = r0 + ty + 16 * a;
        if (i >= dd) continue;
#pragma unroll
        for (int c = 0; c < 4; c++) {
            int j = pf_sum_column(vc0 + tx + 16 * c, w, wp, flows);
            if (j >= 0) p[(long long)i * d + j] = acc[a][c];
        }
    }
}

// This block's first row and first virtual column: blockIdx.z = row block + rowBlocks·column block.
__device__ __forceinline__ void pf_sum_origin(int dd, int& r0, int& vc0) {
    int rowBlocks = (dd + PF_SUM_BLOCK - 1) / PF_SUM_BLOCK;
    r0 = (int)(blockIdx.z % rowBlocks) * PF_SUM_BLOCK;
    vc0 = (int)(blockIdx.z / rowBlocks) * PF_SUM_BLOCK;
}

// out[e] = Σ_chunk partials[chunk·count + e] / divisor, the chunks in order (1-D over count).
extern "C" __global__ void pf_linear_attention_finish(const double* partials, int chunks, long long count,
                                                      int divisor, float* out) {
    PF_FOR_EACH(e, count) {
        double total = 0;
        for (int g = 0; g < chunks; g++) total += partials[(long long)g * count + e];
        out[e] = (float)(total / divisor);
    }
}

// ---------------------------------------------------------------- key pass

// Chunk sums of S (partialS: chunks × B·heads × dd × d) and of m (partialM: chunks × B·heads × dd), before the
// division by n (pf_linear_attention_finish).
extern "C" __global__ void __launch_bounds__(PF_SUM_THREADS) pf_linear_attention_kv(
        const float* k, int kRowStride, const float* v, int vRowStride, const float* sin, const float* cos,
        double* partialS, double* partialM, int b, int n, int c, int heads) {
    float* smem = pf_dynamic_shared;
    float* rotT = smem;                                // [tile][64]: rope(κ) of the block's rows
    float* plainT = rotT + PF_SUM_TILE * PF_SUM_BLOCK; // [tile][64]: κ before rotation (for m)
    float* vT = plainT + PF_SUM_TILE * PF_SUM_BLOCK;   // [tile][64]: v at the block's columns
    int d = c / heads, dd = 2 * d, wp = pf_sum_padded(d);
    int bh = blockIdx.x, batch = bh / heads, h = bh % heads, r0, vc0, t0, t1;
    pf_sum_origin(dd, r0, vc0);
    pf_sum_chunk(n, t0, t1);
    const float* kb = k + (long long)batch * n * kRowStride + h * d;
    const float* vb = v + (long long)batch * n * vRowStride + h * d;
    bool sumsM = vc0 == 0 && threadIdx.x < PF_SUM_BLOCK; // m: the first column block, a thread per row
    double acc[4][4] = {}, accM = 0;
    for (int base = t0; base < t1; base += PF_SUM_TILE) {
        int count = min(PF_SUM_TILE, t1 - base);
        // One item per (token, rotation pair): κ and rope(κ).
        for (int idx = threadIdx.x; idx < PF_SUM_TILE * PF_SUM_BLOCK / 2; idx += blockDim.x) {
            int tt = idx / (PF_SUM_BLOCK / 2), r = 2 * (idx % (PF_SUM_BLOCK / 2)), i = r0 + r;
            float k0 = 0.0f, k1 = 0.0f, y0 = 0.0f, y1 = 0.0f;
            if (tt < count && i < dd) {
                long long t = base + tt, tab = t * dd + i;
                const float* kr = kb + t * kRowStride;
                k0 = expm1f(pf_polar(kr[i % d], i, d, 0));
                k1 = expm1f(pf_polar(kr[(i + 1) % d], i + 1, d, 0));
                y0 = k0 * cos[tab] - k1 * sin[tab];
                y1 = k1 * cos[tab + 1] + k0 * sin[tab + 1];
            }
            plainT[tt * PF_SUM_BLOCK + r] = k0;
            plainT[tt * PF_SUM_BLOCK + r + 1] = k1;
            rotT[tt * PF_SUM_BLOCK + r] = y0;
            rotT[tt * PF_SUM_BLOCK + r + 1] = y1;
        }
        for (int idx = threadIdx.x; idx < PF_SUM_TILE * PF_SUM_BLOCK; idx += blockDim.x) {
            int tt = idx / PF_SUM_BLOCK, j = pf_sum_column(vc0 + idx % PF_SUM_BLOCK, d, wp, 1);
            vT[idx] = tt < count && j >= 0 ? vb[(long long)(base + tt) * vRowStride + j] : 0.0f;
        }
        __syncthreads();
        pf_sum_tile(rotT, rotT, vT, count, vc0, 1 << 30, acc);
        if (sumsM) {
            float part = 0.0f;
            for (int tt = 0; tt < count; tt++) part += plainT[tt * PF_SUM_BLOCK + threadIdx.x];
            accM += part;
        }
        __syncthreads();
    }
    pf_sum_store(acc, partialS, r0, vc0, dd, d, d, wp, 1);
    if (sumsM && r0 + (int)threadIdx.x < dd) {
        partialM[((long long)blockIdx.y * gridDim.x + bh) * dd + r0 + threadIdx.x] = accM;
    }
}

// ---------------------------------------------------------------- token-row kernels: shared layout

// S (or dS) of this (batch, head) with its row stride, m (or dm), and this warp's rows.
struct PfHead {
    const float* mat;
    int ld;
    const float* vec;
    float* rows;
};

// Shared memory of the token-row kernels: mat [dd][d+1] (S or dS; only for d ≤ PF_SHARED_S_MAX_D, wider heads
// read it in place), vec [dd] (m or dm), then per warp 4·dd + d floats of rows (CudaKernels.linearTokenShared).
__device__ __forceinline__ PfHead pf_load_head(float* smem, const float* mat, const float* vec, int bh, int d) {
    int dd = 2 * d;
    const float* src = mat + (long long)bh * dd * d;
    PfHead head{src, d, smem, smem};
    if (d <= PF_SHARED_S_MAX_D) {
        for (int idx = threadIdx.x; idx < dd * d; idx += blockDim.x) smem[(idx / d) * (d + 1) + idx % d] = src[idx];
        head.mat = smem;
        head.ld = d + 1;
        head.vec = smem + dd * (d + 1);
    }
    float* vs = (float*)head.vec;
    for (int i = threadIdx.x; i < dd; i += blockDim.x) vs[i] = vec[(long long)bh * dd + i];
    __syncthreads();
    head.rows = vs + dd + (threadIdx.x >> 5) * (4 * dd + d);
    return head;
}

// φ of both flows of one query row: phi0 = exp([q⁺,q⁻]⊙σ1) − 1, phi1 = exp([q⁻,q⁺]⊙σ2) − 1.
__device__ __forceinline__ void pf_query_features(const float* qr, const float* s1, const float* s2, int h, int d,
                                                  float* phi0, float* phi1) {
    int dd = 2 * d;
    for (int i = threadIdx.x & 31; i < dd; i += 32) {
        float qv = qr[i % d];
        phi0[i] = expm1f(pf_polar(qv, i, d, 0) * pf_sigmoid(s1[h * dd + i]));
        phi1[i] = expm1f(pf_polar(qv, i, d, 1) * pf_sigmoid(s2[h * dd + i]));
    }
}

// z_f = φ_f·m + 1e-6, reduced over the warp (every lane gets it).
__device__ __forceinline__ float pf_normaliser(const float* phi, const float* mv, int dd) {
    float z = 0.0f;
    for (int i = threadIdx.x & 31; i < dd; i += 32) z += phi[i] * mv[i];
    return pf_warp_sum(z) + PF_Z_EPS;
}

// ---------------------------------------------------------------- query pass

extern "C" __global__ void pf_linear_attention_out(const float* q, int qRowStride, const float* s1, const float* s2,
                                                   const float* sin, const float* cos, const float* m,
                                                   const float* s, float* out, int outRowStride,
                                                   int b, int n, int c, int heads) {
    int d = c / heads, dd = 2 * d, half = d / 2, lane = threadIdx.x & 31;
    int bh = blockIdx.y, batch = bh / heads, h = bh % heads;
    PfHead head = pf_load_head(pf_dynamic_shared, s, m, bh, d);
    const float* sm = head.mat;
    const float* mv = head.vec;
    int ld = head.ld;
    float *rot0 = head.rows, *rot1 = rot0 + dd, *phi0 = rot0 + 2 * dd, *phi1 = rot0 + 3 * dd;
    int tEnd = min(n, (int)blockIdx.x * PF_TOKENS + PF_TOKENS);
    for (int t = blockIdx.x * PF_TOKENS + (threadIdx.x >> 5); t < tEnd; t += PF_WARPS) {
        const float* qr = q + ((long long)batch * n + t) * qRowStride + h * d;
        pf_query_features(qr, s1, s2, h, d, phi0, phi1);
        __syncwarp();
        float z0 = pf_normaliser(phi0, mv, dd), z1 = pf_normaliser(phi1, mv, dd);
        pf_rotate_row(phi0, rot0, sin, cos, (long long)t * dd, dd, false);
        pf_rotate_row(phi1, rot1, sin, cos, (long long)t * dd, dd, false);
        __syncwarp();
        float* orow = out + ((long long)batch * n + t) * outRowStride + h * d;
        for (int j = lane; j < d; j += 32) {
            const float* rot = j < half ? rot0 : rot1;
            float a = 0.0f;
            for (int i = 0; i < dd; i++) a += rot[i] * sm[i * ld + j];
            orow[j] = a / (j < half ? z0 : z1);
        }
        __syncwarp();
    }
}

// ---------------------------------------------------------------- backward: query pass

// Besides dq and the token scalars, the block's sums of dSig_f and dm over its tokens, as double partials
// (token block × B·heads × 2 × dd and × dd) for pf_linear_attention_finish: a lane sums its rows over its
// warp's tokens in float, the warps are added in order in double.
extern "C" __global__ void pf_linear_attention_dq(const float* q, int qRowStride, const float* s1, const float* s2,
                                                  const float* sin, const float* cos, const float* m,
                                                  const float* s, const float* dOut, int dOutRowStride, float* dq,
                                                  int dqRowStride, float* tokenScalars, double* partialSig,
                                                  double* partialM, int b, int n, int c, int heads) {
    int d = c / heads, dd = 2 * d, half = d / 2, lane = threadIdx.x & 31;
    int bh = blockIdx.y, batch = bh / heads, h = bh % heads;
    PfHead head = pf_load_head(pf_dynamic_shared, s, m, bh, d);
    const float* sm = head.mat;
    const float* mv = head.vec;
    int ld = head.ld;
    // rot_f is reused for dRot_f and then dφ_f once the rotated features are no longer needed.
    float *rot0 = head.rows, *rot1 = rot0 + dd, *phi0 = rot0 + 2 * dd, *phi1 = rot0 + 3 * dd, *da = rot0 + 4 * dd;
    float sig0[PF_LANE_ROWS] = {}, sig1[PF_LANE_ROWS] = {}, dmSum[PF_LANE_ROWS] = {}; // rows lane + 32p
    int tEnd = min(n, (int)blockIdx.x * PF_TOKENS + PF_TOKENS);
    for (int t = blockIdx.x * PF_TOKENS + (threadIdx.x >> 5); t < tEnd; t += PF_WARPS) {
        long long tok = (long long)batch * n + t, tab = (long long)t * dd;
        const float* qr = q + tok * qRowStride + h * d;
        const float* g = dOut + tok * dOutRowStride + h * d;
        pf_query_features(qr, s1, s2, h, d, phi0, phi1);
        __syncwarp();
        float z0 = pf_normaliser(phi0, mv, dd), z1 = pf_normaliser(phi1, mv, dd);
        pf_rotate_row(phi0, rot0, sin, cos, tab, dd, false);
        pf_rotate_row(phi1, rot1, sin, cos, tab, dd, false);
        __syncwarp();
        // out_j = a_j / z_f: da_j = g_j / z_f and dz_f = −Σ_j g_j·a_j / z_f².
        float ga0 = 0.0f, ga1 = 0.0f;
        for (int j = lane; j < d; j += 32) {
            bool sim = j < half;
            const float* rot = sim ? rot0 : rot1;
            float a = 0.0f;
            for (int i = 0; i < dd; i++) a += rot[i] * sm[i * ld + j];
            float gj = g[j];
            if (sim) ga0 += gj * a; else ga1 += gj * a;
            da[j] = gj / (sim ? z0 : z1);
        }
        float dz0 = -pf_warp_sum(ga0) / (z0 * z0), dz1 = -pf_warp_sum(ga1) / (z1 * z1);
        __syncwarp();
        // dRot_f[i] = Σ_j S_f[i][j]·da_f[j] (lane owns row i; padded rows keep the banks distinct).
        for (int i = lane; i < dd; i += 32) {
            float r0 = 0.0f, r1 = 0.0f;
            for (int j = 0; j < half; j++) {
                r0 += sm[i * ld + j] * da[j];
                r1 += sm[i * ld + half + j] * da[half + j];
            }
            rot0[i] = r0;
            rot1[i] = r1;
        }
        __syncwarp();
        // dφ_f = rotᵀ(dRot_f) + dz_f·m, in place.
        pf_rotate_row(rot0, rot0, sin, cos, tab, dd, true);
        pf_rotate_row(rot1, rot1, sin, cos, tab, dd, true);
        __syncwarp();
        for (int i = lane; i < dd; i += 32) {
            rot0[i] += dz0 * mv[i];
            rot1[i] += dz1 * mv[i];
        }
        __syncwarp();
        // φ = exp(x⊙σ) − 1: dx = dφ·(φ + 1)·σ, and x = q⁺ or q⁻ routes it to q with the sign of q.
        float* dqr = dq + tok * dqRowStride + h * d;
        for (int i = lane; i < d; i += 32) {
            float qv = qr[i], acc = 0.0f;
            for (int f = 0; f < 2; f++) {
                const float* dphi = f == 0 ? rot0 : rot1;
                const float* phi = f == 0 ? phi0 : phi1;
                const float* raw = f == 0 ? s1 : s2;
                float dx0 = dphi[i] * (phi[i] + 1.0f) * pf_sigmoid(raw[h * dd + i]);
                float dx1 = dphi[d + i] * (phi[d + i] + 1.0f) * pf_sigmoid(raw[h * dd + d + i]);
                float dPos = f == 0 ? dx0 : dx1, dNeg = f == 0 ? dx1 : dx0;
                if (qv > 0.0f) acc += dPos;
                if (qv < 0.0f) acc -= dNeg;
            }
            dqr[i] = acc;
        }
        // The token's dSig_f = dφ_f⊙(φ_f + 1)⊙x_f and dm = Σ_f dz_f·φ_f, into the lane's sums.
#pragma unroll
        for (int p = 0; p < PF_LANE_ROWS; p++) {
            int i = lane + 32 * p;
            if (i >= dd) continue;
            float qv = qr[i % d];
            sig0[p] += rot0[i] * (phi0[i] + 1.0f) * pf_polar(qv, i, d, 0);
            sig1[p] += rot1[i] * (phi1[i] + 1.0f) * pf_polar(qv, i, d, 1);
            dmSum[p] += dz0 * phi0[i] + dz1 * phi1[i];
        }
        if (lane == 0) {
            float* ts = tokenScalars + ((long long)bh * n + t) * 4;
            ts[0] = 1.0f / z0;
            ts[1] = 1.0f / z1;
            ts[2] = dz0;
            ts[3] = dz1;
        }
        __syncwarp();
    }
    // The warps' sums through their row areas (4·dd + d ≥ 3·dd floats each), added in warp order.
    __syncthreads();
    float* rows = head.rows;
#pragma unroll
    for (int p = 0; p < PF_LANE_ROWS; p++) {
        int i = lane + 32 * p;
        if (i >= dd) continue;
        rows[i] = sig0[p];
        rows[dd + i] = sig1[p];
        rows[2 * dd + i] = dmSum[p];
    }
    __syncthreads();
    const float* warp0 = head.vec + dd;
    long long slot = (long long)blockIdx.x * gridDim.y + bh;
    for (int e = threadIdx.x; e < 3 * dd; e += blockDim.x) {
        double total = 0;
        for (int w = 0; w < PF_WARPS; w++) total += warp0[w * (4 * dd + d) + e];
        if (e < 2 * dd) partialSig[slot * 2 * dd + e] = total;
        else partialM[slot * dd + e - 2 * dd] = total;
    }
}

// ---------------------------------------------------------------- backward: token sums

// Chunk sums of dS_f = Σ_t rope(φ_f)ᵀ(g_f/z_f) into partialDS (chunks × B·heads × dd × d; columns < half: flow
// sim), for pf_linear_attention_finish. The block's columns are two flows of half, each padded (pf_sum_column).
extern "C" __global__ void __launch_bounds__(PF_SUM_THREADS) pf_linear_attention_dsum(
        const float* q, int qRowStride, const float* s1, const float* s2, const float* sin, const float* cos,
        const float* dOut, int dOutRowStride, const float* tokenScalars, double* partialDS,
        int b, int n, int c, int heads) {
    __shared__ float sig[2][PF_SUM_BLOCK];
    float* smem = pf_dynamic_shared;
    float* rotT0 = smem;                               // [tile][64]: rope(φ_sim) of the block's rows
    float* rotT1 = rotT0 + PF_SUM_TILE * PF_SUM_BLOCK; // [tile][64]: rope(φ_opp)
    float* daT = rotT1 + PF_SUM_TILE * PF_SUM_BLOCK;   // [tile][64]: g/z at the block's columns
    int d = c / heads, dd = 2 * d, half = d / 2, wp = pf_sum_padded(half);
    int bh = blockIdx.x, batch = bh / heads, h = bh % heads, r0, vc0, t0, t1;
    pf_sum_origin(dd, r0, vc0);
    pf_sum_chunk(n, t0, t1);
    bool want0 = vc0 < wp, want1 = vc0 + PF_SUM_BLOCK > wp; // the flows among the block's columns
    for (int r = threadIdx.x; r < PF_SUM_BLOCK; r += blockDim.x) {
        int i = r0 + r;
        sig[0][r] = i < dd ? pf_sigmoid(s1[h * dd + i]) : 0.0f;
        sig[1][r] = i < dd ? pf_sigmoid(s2[h * dd + i]) : 0.0f;
    }
    __syncthreads();
    const float* qb = q + (long long)batch * n * qRowStride + h * d;
    double acc[4][4] = {};
    for (int base = t0; base < t1; base += PF_SUM_TILE) {
        int count = min(PF_SUM_TILE, t1 - base);
        // One item per (token, rotation pair): rope(φ_f) of both flows.
        for (int idx = threadIdx.x; idx < PF_SUM_TILE * PF_SUM_BLOCK / 2; idx += blockDim.x) {
            int tt = idx / (PF_SUM_BLOCK / 2), r = 2 * (idx % (PF_SUM_BLOCK / 2)), i = r0 + r;
            float y[2][2] = {};
            if (tt < count && i < dd) {
                long long t = base + tt, tab = t * dd + i;
                const float* qr = qb + t * qRowStride;
                float q0 = qr[i % d], q1 = qr[(i + 1) % d];
                float c0 = cos[tab], c1 = cos[tab + 1], sn0 = sin[tab], sn1 = sin[tab + 1];
                for (int f = 0; f < 2; f++) {
                    if (!(f == 0 ? want0 : want1)) continue;
                    float p0 = expm1f(pf_polar(q0, i, d, f) * sig[f][r]);
                    float p1 = expm1f(pf_polar(q1, i + 1, d, f) * sig[f][r + 1]);
                    y[f][0] = p0 * c0 - p1 * sn0;
                    y[f][1] = p1 * c1 + p0 * sn1;
                }
            }
            rotT0[tt * PF_SUM_BLOCK + r] = y[0][0];
            rotT0[tt * PF_SUM_BLOCK + r + 1] = y[0][1];
            rotT1[tt * PF_SUM_BLOCK + r] = y[1][0];
            rotT1[tt * PF_SUM_BLOCK + r + 1] = y[1][1];
        }
        for (int idx = threadIdx.x; idx < PF_SUM_TILE * PF_SUM_BLOCK; idx += blockDim.x) {
            int tt = idx / PF_SUM_BLOCK, vc = vc0 + idx % PF_SUM_BLOCK, j = pf_sum_column(vc, half, wp, 2);
            float a = 0.0f;
            if (tt < count && j >= 0) {
                long long t = base + tt;
                float zinv = tokenScalars[((long long)bh * n + t) * 4 + vc / wp];
                a = dOut[((long long)batch * n + t) * dOutRowStride + h * d + j] * zinv;
            }
            daT[idx] = a;
        }
        __syncthreads();
        pf_sum_tile(rotT0, rotT1, daT, count, vc0, wp, acc);
        __syncthreads();
    }
    pf_sum_store(acc, partialDS, r0, vc0, dd, d, half, wp, 2);
}

// ds_f[h, j] += σ_f(1 − σ_f)·Σ_b dSig[b, h, f, j], batches in order (1-D over heads·dd); ds1, ds2 nullable.
extern "C" __global__ void pf_linear_attention_dsigma(const float* dSig, const float* s1, const float* s2,
                                                      float* ds1, float* ds2, int b, int heads, int d) {
    int dd = 2 * d;
    PF_FOR_EACH(e, (long long)heads * dd) {
        long long h = e / dd, j = e % dd;
        for (int f = 0; f < 2; f++) {
            float* ds = f == 0 ? ds1 : ds2;
            if (!ds) continue;
            double sum = 0;
            for (int bb = 0; bb < b; bb++) sum += dSig[(((long long)bb * heads + h) * 2 + f) * dd + j];
            double sg = 1.0 / (1.0 + exp(-(double)(f == 0 ? s1 : s2)[e]));
            ds[e] = (float)((double)ds[e] + sum * sg * (1.0 - sg));
        }
    }
}

// ---------------------------------------------------------------- backward: key pass

extern "C" __global__ void pf_linear_attention_dkv(const float* k, int kRowStride, const float* v, int vRowStride,
                                                   const float* sin, const float* cos, const float* dS,
                                                   const float* dm, float* dk, int dkRowStride, float* dv,
                                                   int dvRowStride, int b, int n, int c, int heads) {
    int d = c / heads, dd = 2 * d, lane = threadIdx.x & 31;
    int bh = blockIdx.y, batch = bh / heads, h = bh % heads;
    PfHead head = pf_load_head(pf_dynamic_shared, dS, dm, bh, d);
    const float* sm = head.mat;
    const float* mv = head.vec;
    int ld = head.ld;
    float *kap = head.rows, *rk = kap + dd, *dr = kap + 2 * dd, *vr = kap + 3 * dd;
    float invN = 1.0f / n;
    int tEnd = min(n, (int)blockIdx.x * PF_TOKENS + PF_TOKENS);
    for (int t = blockIdx.x * PF_TOKENS + (threadIdx.x >> 5); t < tEnd; t += PF_WARPS) {
        long long tok = (long long)batch * n + t, tab = (long long)t * dd;
        const float* kr = k + tok * kRowStride + h * d;
        for (int i = lane; i < d; i += 32) {
            float kv = kr[i];
            kap[i] = expm1f(fmaxf(kv, 0.0f));
            kap[d + i] = expm1f(fmaxf(-kv, 0.0f));
            vr[i] = v[tok * vRowStride + h * d + i];
        }
        __syncwarp();
        pf_rotate_row(kap, rk, sin, cos, tab, dd, false);
        // dR_n[i] = Σ_j dS[i][j]·v_n[j] / N (row i per lane).
        for (int i = lane; i < dd; i += 32) {
            float a = 0.0f;
            for (int j = 0; j < d; j++) a += sm[i * ld + j] * vr[j];
            dr[i] = a * invN;
        }
        __syncwarp();
        // dv_n[j] = Σ_i dS[i][j]·R_n[i] / N (column j per lane).
        float* dvr = dv + tok * dvRowStride + h * d;
        for (int j = lane; j < d; j += 32) {
            float a = 0.0f;
            for (int i = 0; i < dd; i++) a += sm[i * ld + j] * rk[i];
            dvr[j] = a * invN;
        }
        pf_rotate_row(dr, dr, sin, cos, tab, dd, true);
        __syncwarp();
        // κ = exp([k⁺,k⁻]) − 1: dk = (dκ⁺ + dm⁺/N)(κ⁺ + 1)[k > 0] − (dκ⁻ + dm⁻/N)(κ⁻ + 1)[k < 0].
        float* dkr = dk + tok * dkRowStride + h * d;
        for (int i = lane; i < d; i += 32) {
            float kv = kr[i];
            float gPos = (dr[i] + mv[i] * invN) * (kap[i] + 1.0f);
            float gNeg = (dr[d + i] + mv[d + i] * invN) * (kap[d + i] + 1.0f);
            dkr[i] = (kv > 0.0f ? gPos : 0.0f) - (kv < 0.0f ? gNeg : 0.0f);
        }
        __syncwarp();
    }
}
