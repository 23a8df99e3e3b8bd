// LayerNorm and BatchNorm kernels of the PolaFormer++ CUDA backend, over the last dimension C of a contiguous
// (rows, C) matrix; the maths is numerics/.../reference/NormKernels.java.
//
// LayerNorm normalises rows: one warp per row, 8 rows per block of 256 threads (grid ceil(rows/8)), the row
// statistics in double (mean first, then the biased variance of the deviations, as the reference).
// Column work (BatchNorm statistics and backward, LayerNorm parameter gradients) is a two-stage column reduction
// (pf_common.cuh): stage 1 sums chunks of rows into double partials, stage 2 adds them per column in chunk
// order and finishes — deterministic, no atomics. BatchNorm's elementwise passes use the finished columns.

#include "pf_common.cuh"

#define PF_ROWS_PER_BLOCK 8

// ---------------------------------------------------------------- LayerNorm

// y = (x − μ)·rstd·gamma + beta, rstd = 1/sqrt(var + eps); mean and rstd (rows) are nullable outputs.
extern "C" __global__ void pf_layernorm_forward(const float* x, const float* gamma, const float* beta, float* y,
                                                float* mean, float* rstd, int rows, int c, float eps) {
    int row = blockIdx.x * PF_ROWS_PER_BLOCK + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (row >= rows) return;
    const float* xr = x + (long long)row * c;
    float* yr = y + (long long)row * c;
    double s = 0;
    for (int j = lane; j < c; j += 32) s += xr[j];
    double mu = pf_warp_sum(s) / c;
    double ss = 0;
    for (int j = lane; j < c; j += 32) {
        double dlt = xr[j] - mu;
        ss += dlt * dlt;
    }
    double rs = 1.0 / sqrt(pf_warp_sum(ss) / c + (double)eps);
    for (int j = lane; j < c; j += 32) yr[j] = (float)((xr[j] - mu) * rs) * gamma[j] + beta[j];
    if (lane == 0) {
        if (mean) mean[row] = (float)mu;
        if (rstd) rstd[row] = (float)rs;
    }
}

// dx = rstd·(g − mean(g) − x̂·mean(g⊙x̂)) with g = dy⊙gamma (overwritten); the two row means in double.
extern "C" __global__ void pf_layernorm_backward(const float* x, const float* gamma, const float* mean,
                                                 const float* rstd, const float* dy, float* dx, int rows, int c) {
    int row = blockIdx.x * PF_ROWS_PER_BLOCK + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (row >= rows) return;
    long long base = (long long)row * c;
    float mu = mean[row], rs = rstd[row];
    double sg = 0, sgx = 0;
    for (int j = lane; j < c; j += 32) {
        float xhat = (x[base + j] - mu) * rs;
        float g = dy[base + j] * gamma[j];
        sg += g;
        sgx += (double)g * xhat;
    }
    float meanG = (float)(pf_warp_sum(sg) / c), meanGX = (float)(pf_warp_sum(sgx) / c);
    for (int j = lane; j < c; j += 32) {
        float xhat = (x[base + j] - mu) * rs;
        // g rounded as in the sums above: a contracted fma(dy, gamma, −meanG) would leave g's rounding error,
        // which rstd magnifies (a one-channel row must give exactly 0).
        float g = __fmul_rn(dy[base + j], gamma[j]);
        dx[base + j] = rs * (g - meanG - xhat * meanGX);
    }
}

// Stage 1 of the norms' parameter-gradient sums, block 256, grid (ceil(c/32), chunks): per column sum 0 = Σ dy·t
// and sum 1 = Σ dy, with t = x̂ = (x − mean[r])·rstd[r] for row statistics (LayerNorm, perRow) or t = x − mean[j]
// for column statistics (BatchNorm: rstd is applied to the total, as the CPU backend; rstd unused here).
// LayerNorm's stage 2 is pf_reduce_finish (dGamma, dBeta), BatchNorm's pf_batchnorm_backward_finish.
extern "C" __global__ void pf_norm_grad_sums(const float* x, const float* mean, const float* rstd, const float* dy,
                                             double* partials, int rows, int c, int perRow) {
    int j = blockIdx.x * 32 + pf_lane();
    long long begin, end;
    pf_chunk_rows(rows, begin, end);
    double s[2] = {0, 0};
    if (j < c) {
        float columnMean = perRow ? 0.0f : mean[j];
        for (long long r = begin + pf_row_group(); r < end; r += PF_ROW_GROUPS) {
            long long e = r * c + j;
            float t = perRow ? (x[e] - mean[r]) * rstd[r] : x[e] - columnMean;
            s[0] += (double)dy[e] * t;
            s[1] += dy[e];
        }
    }
    pf_store_partials(s, partials, c, j);
}

// ---------------------------------------------------------------- BatchNorm

// Stage 1 of the training statistics, block 256, grid (ceil(c/32), chunks): Σd and Σd² per column with
// d = x − x[0, j], exact in double. Shifting by a sample of the column keeps the one-pass variance
// Σd² − (Σd)²/rows from cancelling (the loss grows with ((mean − shift)/std)², about 1 for a sample), so x is
// read once.
extern "C" __global__ void pf_column_moments(const float* x, double* partials, int rows, int c) {
    int j = blockIdx.x * 32 + pf_lane();
    long long begin, end;
    pf_chunk_rows(rows, begin, end);
    double s[2] = {0, 0};
    if (j < c && begin < end) {
        double shift = x[j];
        for (long long r = begin + pf_row_group(); r < end; r += PF_ROW_GROUPS) {
            double d = (double)x[r * c + j] - shift;
            s[0] += d;
            s[1] += d * d;
        }
    }
    pf_store_partials(s, partials, c, j);
}

// Stage 2 of the training statistics (1-D over c): mean, rstd = 1/sqrt(biased var + eps), the running updates
// (nullable) with the unbiased variance ss/(rows − 1) as PyTorch (and the reference: NaN for a single row), and,
// when affine is not null, pf_batchnorm_apply's (hi, lo, scale) = the mean split into two floats and rstd·gamma.
extern "C" __global__ void pf_column_stats_finish(const double* partials, int chunks, const float* x,
                                                  const float* gamma, float* mean, float* rstd, float* runningMean,
                                                  float* runningVar, float* affine, int rows, int c, float eps,
                                                  float momentum) {
    PF_FOR_EACH(j, c) {
        double sd = pf_chunk_total(partials, chunks, c, 0, j), sdd = pf_chunk_total(partials, chunks, c, 1, j);
        double shift = sd / rows, mu = (rows > 0 ? (double)x[j] : 0.0) + shift;
        double ss = fmax(0.0, sdd - sd * shift); // Σ(x − μ)²
        double rs = 1.0 / sqrt(ss / rows + (double)eps);
        mean[j] = (float)mu;
        rstd[j] = (float)rs;
        double mom = momentum;
        if (runningMean) runningMean[j] = (float)((1 - mom) * runningMean[j] + mom * mu);
        if (runningVar) runningVar[j] = (float)((1 - mom) * runningVar[j] + mom * (ss / (rows - 1)));
        if (affine) {
            float hi = (float)mu;
            affine[j] = hi;
            affine[c + j] = (float)(mu - hi);
            affine[2 * c + j] = (float)(rs * gamma[j]);
        }
    }
}

// pf_batchnorm_apply's (hi, lo, scale) from given statistics (1-D over c), as the CPU backend's eval: hi = mean,
// lo = 0, scale = gamma/sqrt(scale + eps) (fromVariance: scale is the running variance) or scale·gamma (a rstd).
extern "C" __global__ void pf_batchnorm_affine(const float* mean, const float* scale, const float* gamma,
                                               float* affine, int c, float eps, int fromVariance) {
    PF_FOR_EACH(j, c) {
        affine[j] = mean[j];
        affine[c + j] = 0.0f;
        affine[2 * c + j] = fromVariance ? (float)(gamma[j] / sqrt((double)scale[j] + (double)eps))
                                         : (float)((double)scale[j] * gamma[j]);
    }
}

// y = ((x − hi) − lo)·scale + beta per column with affine = (hi, lo, scale), 3·c floats, as the CPU backend: the
// mean's float rounding in (x − (float)mean)·rstd would be magnified where the rows lie close together, hi + lo
// keeps it to double precision. The multiply-add is one fma, as the CPU's. 1-D over rows·c.
extern "C" __global__ void pf_batchnorm_apply(const float* x, const float* affine, const float* beta, float* y,
                                              int rows, int c) {
    long long total = (long long)rows * c;
    PF_FOR_EACH(e, total) {
        int j = (int)(e % c);
        y[e] = fmaf((x[e] - affine[j]) - affine[c + j], affine[2 * c + j], beta[j]);
    }
}

// Stage 2 of the backward (1-D over c), after pf_norm_grad_sums with column statistics: sumGX = rstd·Σdy·(x − μ),
// sumG = Σdy; dGamma += sumGX, dBeta += sumG (nullable), and coef = (b, k) = (sumG/rows, sumGX/rows·rstd) for
// pf_batchnorm_backward_dx.
extern "C" __global__ void pf_batchnorm_backward_finish(const double* partials, int chunks, const float* rstd,
                                                        float* dGamma, float* dBeta, float* coef, int rows, int c) {
    PF_FOR_EACH(j, c) {
        double r = rstd[j], sumGX = pf_chunk_total(partials, chunks, c, 0, j) * r;
        double sumG = pf_chunk_total(partials, chunks, c, 1, j);
        if (dGamma) dGamma[j] = (float)((double)dGamma[j] + sumGX);
        if (dBeta) dBeta[j] = (float)((double)dBeta[j] + sumG);
        coef[j] = (float)(sumG / rows);
        coef[c + j] = (float)(sumGX / rows * r);
    }
}

// dx (nullable, overwritten) = (dy − b − (x − μ)·k)·a with a = gamma·rstd when the statistics came from x
// (batchStatistics), else dy·a; 1-D over rows·c. The products are rounded apart, as the CPU backend's (no fma).
extern "C" __global__ void pf_batchnorm_backward_dx(const float* x, const float* gamma, const float* mean,
                                                    const float* rstd, const float* dy, const float* coef, float* dx,
                                                    int rows, int c, int batchStatistics) {
    if (!dx) return;
    long long total = (long long)rows * c;
    PF_FOR_EACH(e, total) {
        int j = (int)(e % c);
        float g = dy[e];
        if (batchStatistics) g = (g - coef[j]) - __fmul_rn(x[e] - mean[j], coef[c + j]);
        dx[e] = g * __fmul_rn(gamma[j], rstd[j]);
    }
}
