// The fused polarity-aware linear attention of PolaFormer++ (spec §1.7), forward and backward, on (B, N, C)
// operands with unit-stride rows and a row stride each (column slices of qkvg (B, N, 4C) are used in place;
// batch stride = N·rowStride). The maths is dev.polaformer.numerics.LinearAttention and the double oracle
// numerics/.../reference/AttentionKernels.linearForward/linearBackward. Per (batch, head), d = C/heads,
// dd = 2d, half = d/2, rope tables (N, dd):
//   κ(k) = exp([k⁺,k⁻]) − 1,  m = mean_n κ_n,  S = mean_n rope(κ_n)·[v¹|v²]ᵀ           (pf_linear_attention_kv)
//   φsim = exp([q⁺,q⁻]⊙σ1) − 1,  φopp = exp([q⁻,q⁺]⊙σ2) − 1,  z_f = φ_f·m + 1e-6
//   out = [rope(φsim)ᵀS1/z_sim, rope(φopp)ᵀS2/z_opp]                                      (pf_linear_attention_out)
// Backward (as the CPU backend, recomputing m and S with the kv kernel first):
//   pf_linear_attention_dq:   dq, and per token 1/z_f and dz_f = −Σ_j g_fj·out_fj/z_f
//   pf_linear_attention_dsum: dS_f = Σ rope(φ_f)ᵀ(g_f/z_f), dm = Σ dz_f φ_f, dSig_f = Σ dφ_f⊙(φ_f+1)⊙x_f
//   pf_linear_attention_dsigma: ds_f += σ_f(1−σ_f)·Σ_b dSig_f
//   pf_linear_attention_dkv:  dv_n = dSᵀR_n/N, dκ_n = rotᵀ(dS·v_n)/N + dm/N, through κ to dk
// Two shapes of kernel:
//   * token sums (kv, dsum): grid (B·heads, dd/4), 128 threads; a block owns 4 feature rows (two rotation
//     pairs), streams all tokens in tiles of 64 through shared memory, each thread sums its outputs over a
//     tile in float and adds the tile into a double: deterministic, double-accurate over thousands of tokens.
//   * token rows (out, dq, dkv): grid (ceil(N/16), B·heads), 4 warps, one warp per token; the (batch, head)'s
//     S (or dS) sits in shared memory with rows padded to d + 1 floats, so lanes walking either a row or a
//     column hit distinct banks.
// Head widths up to 64 (CudaKernels.MAX_HEAD_DIM): the per-thread accumulator arrays and the shared tiles
// are sized for it.

#include "pf_common.cuh"

#define PF_ROWS 4
#define PF_TILE 64
#define PF_WARPS 4
#define PF_TOKENS 16
#define PF_MAX_D 64
#define PF_SUM_THREADS 128
// Outputs per thread of the token-sum kernels: ceil((4·64 + 12) / 128).
#define PF_SUM_SLOTS 3
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

// ---------------------------------------------------------------- key pass

extern "C" __global__ void pf_linear_attention_kv(const float* k, int kRowStride, const float* v, int vRowStride,
                                                  const float* sin, const float* cos, float* m, float* s,
                                                  int b, int n, int c, int heads) {
    float* smem = pf_dynamic_shared;
    int d = c / heads, dd = 2 * d;
    int bh = blockIdx.x, batch = bh / heads, h = bh % heads, r0 = blockIdx.y * PF_ROWS;
    float* rotated = smem;                   // [PF_TILE][PF_ROWS]: rope(κ) rows r0..r0+3
    float* plain = rotated + PF_TILE * PF_ROWS; // [PF_TILE][PF_ROWS]: κ before rotation (for m)
    float* vt = plain + PF_TILE * PF_ROWS;      // [PF_TILE][d]
    const float* kb = k + (long long)batch * n * kRowStride + h * d;
    const float* vb = v + (long long)batch * n * vRowStride + h * d;
    int entries = PF_ROWS * d + PF_ROWS; // S rows, then m rows
    double acc[PF_SUM_SLOTS] = {0, 0, 0};
    for (int t0 = 0; t0 < n; t0 += PF_TILE) {
        int count = min(PF_TILE, n - t0);
        for (int idx = threadIdx.x; idx < PF_TILE * PF_ROWS / 2; idx += blockDim.x) {
            int tt = idx / (PF_ROWS / 2), pr = 2 * (idx % (PF_ROWS / 2)), i0 = r0 + pr;
            float k0 = 0.0f, k1 = 0.0f, y0 = 0.0f, y1 = 0.0f;
            if (tt < count) {
                long long t = t0 + tt;
                const float* kr = kb + t * kRowStride;
                k0 = expm1f(pf_polar(kr[i0 % d], i0, d, 0));
                k1 = expm1f(pf_polar(kr[(i0 + 1) % d], i0 + 1, d, 0));
                long long tab = t * dd + i0;
                y0 = k0 * cos[tab] - k1 * sin[tab];
                y1 = k1 * cos[tab + 1] + k0 * sin[tab + 1];
            }
            plain[tt * PF_ROWS + pr] = k0;
            plain[tt * PF_ROWS + pr + 1] = k1;
            rotated[tt * PF_ROWS + pr] = y0;
            rotated[tt * PF_ROWS + pr + 1] = y1;
        }
        for (int idx = threadIdx.x; idx < PF_TILE * d; idx += blockDim.x) {
            int tt = idx / d, j = idx % d;
            vt[idx] = tt < count ? vb[(long long)(t0 + tt) * vRowStride + j] : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int a = 0; a < PF_SUM_SLOTS; a++) {
            int e = threadIdx.x + a * PF_SUM_THREADS;
            if (e >= entries) continue;
            float part = 0.0f;
            if (e < PF_ROWS * d) {
                int row = e / d, col = e % d;
                for (int tt = 0; tt < count; tt++) part += rotated[tt * PF_ROWS + row] * vt[tt * d + col];
            } else {
                int row = e - PF_ROWS * d;
                for (int tt = 0; tt < count; tt++) part += plain[tt * PF_ROWS + row];
            }
            acc[a] += part;
        }
        __syncthreads();
    }
#pragma unroll
    for (int a = 0; a < PF_SUM_SLOTS; a++) {
        int e = threadIdx.x + a * PF_SUM_THREADS;
        if (e >= entries) continue;
        if (e < PF_ROWS * d) {
            int row = e / d, col = e % d;
            s[((long long)bh * dd + r0 + row) * d + col] = (float)(acc[a] / n);
        } else {
            m[(long long)bh * dd + r0 + e - PF_ROWS * d] = (float)(acc[a] / n);
        }
    }
}

// ---------------------------------------------------------------- token-row kernels: shared layout

// Shared memory of the token-row kernels: mat [dd][d+1] (S or dS), vec [dd] (m or dm), then per warp
// 4·dd + d floats of rows. Loads mat and vec of this (batch, head).
__device__ __forceinline__ float* pf_load_head(float* smem, const float* mat, const float* vec, int bh, int d) {
    int dd = 2 * d;
    const float* src = mat + (long long)bh * dd * d;
    for (int idx = threadIdx.x; idx < dd * d; idx += blockDim.x) smem[(idx / d) * (d + 1) + idx % d] = src[idx];
    float* vs = smem + dd * (d + 1);
    for (int i = threadIdx.x; i < dd; i += blockDim.x) vs[i] = vec[(long long)bh * dd + i];
    __syncthreads();
    return vs + dd + (threadIdx.x >> 5) * (4 * dd + d); // this warp's rows
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
    float* smem = pf_dynamic_shared;
    int d = c / heads, dd = 2 * d, half = d / 2, lane = threadIdx.x & 31;
    int bh = blockIdx.y, batch = bh / heads, h = bh % heads;
    float* rows = pf_load_head(smem, s, m, bh, d);
    const float* sm = smem;
    const float* mv = smem + dd * (d + 1);
    float *rot0 = rows, *rot1 = rows + dd, *phi0 = rows + 2 * dd, *phi1 = rows + 3 * dd;
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
            for (int i = 0; i < dd; i++) a += rot[i] * sm[i * (d + 1) + j];
            orow[j] = a / (j < half ? z0 : z1);
        }
        __syncwarp();
    }
}

// ---------------------------------------------------------------- backward: query pass

extern "C" __global__ void pf_linear_attention_dq(const float* q, int qRowStride, const float* s1, const float* s2,
                                                  const float* sin, const float* cos, const float* m,
                                                  const float* s, const float* dOut, int dOutRowStride, float* dq,
                                                  int dqRowStride, float* tokenScalars, int b, int n, int c,
                                                  int heads) {
    float* smem = pf_dynamic_shared;
    int d = c / heads, dd = 2 * d, half = d / 2, lane = threadIdx.x & 31;
    int bh = blockIdx.y, batch = bh / heads, h = bh % heads;
    float* rows = pf_load_head(smem, s, m, bh, d);
    const float* sm = smem;
    const float* mv = smem + dd * (d + 1);
    // rot_f is reused for dRot_f and then dφ_f once the rotated features are no longer needed.
    float *rot0 = rows, *rot1 = rows + dd, *phi0 = rows + 2 * dd, *phi1 = rows + 3 * dd, *da = rows + 4 * dd;
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
            for (int i = 0; i < dd; i++) a += rot[i] * sm[i * (d + 1) + j];
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
                r0 += sm[i * (d + 1) + j] * da[j];
                r1 += sm[i * (d + 1) + half + j] * da[half + j];
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
        if (lane == 0) {
            float* ts = tokenScalars + ((long long)bh * n + t) * 4;
            ts[0] = 1.0f / z0;
            ts[1] = 1.0f / z1;
            ts[2] = dz0;
            ts[3] = dz1;
        }
        __syncwarp();
    }
}

// ---------------------------------------------------------------- backward: token sums

extern "C" __global__ void pf_linear_attention_dsum(const float* q, int qRowStride, const float* s1,
                                                    const float* s2, const float* sin, const float* cos,
                                                    const float* m, const float* s, const float* dOut,
                                                    int dOutRowStride, const float* tokenScalars, float* dS,
                                                    float* dm, float* dSig, int b, int n, int c, int heads) {
    float* smem = pf_dynamic_shared;
    __shared__ float srow[PF_ROWS][PF_MAX_D], mrow[PF_ROWS], sig[2][PF_ROWS];
    int d = c / heads, dd = 2 * d, half = d / 2;
    int bh = blockIdx.x, batch = bh / heads, h = bh % heads, r0 = blockIdx.y * PF_ROWS;
    // Per token of a tile: [f][row] rope(φ_f), dSig_f and dm_f contributions, then da (d).
    float* rotT = smem;
    float* sigT = rotT + PF_TILE * 2 * PF_ROWS;
    float* dmT = sigT + PF_TILE * 2 * PF_ROWS;
    float* daT = dmT + PF_TILE * 2 * PF_ROWS;
    for (int idx = threadIdx.x; idx < PF_ROWS * d; idx += blockDim.x) {
        srow[idx / d][idx % d] = s[((long long)bh * dd + r0) * d + idx];
    }
    if (threadIdx.x < PF_ROWS) {
        int i = r0 + threadIdx.x;
        mrow[threadIdx.x] = m[(long long)bh * dd + i];
        sig[0][threadIdx.x] = pf_sigmoid(s1[h * dd + i]);
        sig[1][threadIdx.x] = pf_sigmoid(s2[h * dd + i]);
    }
    int entries = PF_ROWS * d + 3 * PF_ROWS; // dS rows, dm rows, dSig rows of both flows
    double acc[PF_SUM_SLOTS] = {0, 0, 0};
    for (int t0 = 0; t0 < n; t0 += PF_TILE) {
        int count = min(PF_TILE, n - t0);
        __syncthreads();
        for (int idx = threadIdx.x; idx < PF_TILE * d; idx += blockDim.x) {
            int tt = idx / d, j = idx % d;
            float v = 0.0f;
            if (tt < count) {
                long long tok = (long long)batch * n + t0 + tt;
                float zinv = tokenScalars[((long long)bh * n + t0 + tt) * 4 + (j < half ? 0 : 1)];
                v = dOut[tok * dOutRowStride + h * d + j] * zinv;
            }
            daT[idx] = v;
        }
        __syncthreads();
        // One task per (token, flow, rotation pair): φ, rope(φ), dRot, dφ and the contributions.
        for (int idx = threadIdx.x; idx < PF_TILE * 2 * (PF_ROWS / 2); idx += blockDim.x) {
            int pr = 2 * (idx % (PF_ROWS / 2)), f = (idx / (PF_ROWS / 2)) % 2, tt = idx / (2 * (PF_ROWS / 2));
            int i0 = r0 + pr, base = (tt * 2 + f) * PF_ROWS + pr;
            float rot0 = 0.0f, rot1 = 0.0f, g0 = 0.0f, g1 = 0.0f, m0 = 0.0f, m1 = 0.0f;
            if (tt < count) {
                long long t = t0 + tt, tab = t * dd + i0;
                const float* qr = q + ((long long)batch * n + t) * qRowStride + h * d;
                float x0 = pf_polar(qr[i0 % d], i0, d, f), x1 = pf_polar(qr[(i0 + 1) % d], i0 + 1, d, f);
                float p0 = expm1f(x0 * sig[f][pr]), p1 = expm1f(x1 * sig[f][pr + 1]);
                float c0 = cos[tab], c1 = cos[tab + 1], sn0 = sin[tab], sn1 = sin[tab + 1];
                rot0 = p0 * c0 - p1 * sn0;
                rot1 = p1 * c1 + p0 * sn1;
                float dr0 = 0.0f, dr1 = 0.0f;
                const float* dat = daT + tt * d + f * half;
                for (int j = 0; j < half; j++) {
                    dr0 += srow[pr][f * half + j] * dat[j];
                    dr1 += srow[pr + 1][f * half + j] * dat[j];
                }
                float dz = tokenScalars[((long long)bh * n + t) * 4 + 2 + f];
                float dp0 = dr0 * c0 + dr1 * sn1 + dz * mrow[pr];
                float dp1 = -dr0 * sn0 + dr1 * c1 + dz * mrow[pr + 1];
                g0 = dp0 * (p0 + 1.0f) * x0;
                g1 = dp1 * (p1 + 1.0f) * x1;
                m0 = dz * p0;
                m1 = dz * p1;
            }
            rotT[base] = rot0;
            rotT[base + 1] = rot1;
            sigT[base] = g0;
            sigT[base + 1] = g1;
            dmT[base] = m0;
            dmT[base + 1] = m1;
        }
        __syncthreads();
#pragma unroll
        for (int a = 0; a < PF_SUM_SLOTS; a++) {
            int e = threadIdx.x + a * PF_SUM_THREADS;
            if (e >= entries) continue;
            float part = 0.0f;
            if (e < PF_ROWS * d) {
                int row = e / d, col = e % d, f = col < half ? 0 : 1;
                for (int tt = 0; tt < count; tt++) part += rotT[(tt * 2 + f) * PF_ROWS + row] * daT[tt * d + col];
            } else if (e < PF_ROWS * d + PF_ROWS) {
                int row = e - PF_ROWS * d;
                for (int tt = 0; tt < count; tt++) {
                    part += dmT[(tt * 2) * PF_ROWS + row] + dmT[(tt * 2 + 1) * PF_ROWS + row];
                }
            } else {
                int fr = e - PF_ROWS * d - PF_ROWS, f = fr / PF_ROWS, row = fr % PF_ROWS;
                for (int tt = 0; tt < count; tt++) part += sigT[(tt * 2 + f) * PF_ROWS + row];
            }
            acc[a] += part;
        }
    }
#pragma unroll
    for (int a = 0; a < PF_SUM_SLOTS; a++) {
        int e = threadIdx.x + a * PF_SUM_THREADS;
        if (e >= entries) continue;
        if (e < PF_ROWS * d) {
            dS[((long long)bh * dd + r0 + e / d) * d + e % d] = (float)acc[a];
        } else if (e < PF_ROWS * d + PF_ROWS) {
            dm[(long long)bh * dd + r0 + e - PF_ROWS * d] = (float)acc[a];
        } else {
            int fr = e - PF_ROWS * d - PF_ROWS;
            dSig[((long long)bh * 2 + fr / PF_ROWS) * dd + r0 + fr % PF_ROWS] = (float)acc[a];
        }
    }
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
    float* smem = pf_dynamic_shared;
    int d = c / heads, dd = 2 * d, lane = threadIdx.x & 31;
    int bh = blockIdx.y, batch = bh / heads, h = bh % heads;
    float* rows = pf_load_head(smem, dS, dm, bh, d);
    const float* sm = smem;
    const float* mv = smem + dd * (d + 1);
    float *kap = rows, *rk = rows + dd, *dr = rows + 2 * dd, *vr = rows + 3 * dd;
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
            for (int j = 0; j < d; j++) a += sm[i * (d + 1) + j] * vr[j];
            dr[i] = a * invN;
        }
        __syncwarp();
        // dv_n[j] = Σ_i dS[i][j]·R_n[i] / N (column j per lane).
        float* dvr = dv + tok * dvRowStride + h * d;
        for (int j = lane; j < d; j += 32) {
            float a = 0.0f;
            for (int i = 0; i < dd; i++) a += sm[i * (d + 1) + j] * rk[i];
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
