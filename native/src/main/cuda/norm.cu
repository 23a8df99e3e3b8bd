// LayerNorm and BatchNorm kernels of the PolaFormer++ CUDA backend, over the last dimension C of a contiguous
// (rows, C) matrix; the maths is numerics/.../reference/NormKernels.java.
//
// LayerNorm normalises rows: one warp per row, 8 rows per block of 256 threads (grid ceil(rows/8)), the row
// statistics in double (mean first, then the biased variance of the deviations, as the reference).
// Column work (BatchNorm statistics and backward, LayerNorm parameter gradients) uses blocks of (32, 8):
// lane x owns column blockIdx.x·32 + x (neighbouring lanes read neighbouring floats), the 8 row groups take
// rows round-robin, and their double sums are added in group order — deterministic, no atomics.

#include "pf_common.cuh"

#define PF_ROWS_PER_BLOCK 8

// Adds the row groups' partial sums of one column in group order; every thread of the column gets it.
__device__ __forceinline__ double pf_column_total(double v, double (*part)[32]) {
    __syncthreads(); // part may still be read by a previous call
    part[threadIdx.y][threadIdx.x] = v;
    __syncthreads();
    double total = 0;
    for (int g = 0; g < PF_ROW_GROUPS; g++) total += part[g][threadIdx.x];
    return total;
}

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
        dx[base + j] = rs * (dy[base + j] * gamma[j] - meanG - xhat * meanGX);
    }
}

// dGamma += Σ_rows dy⊙x̂, dBeta += Σ_rows dy (each nullable), per column in double.
extern "C" __global__ void pf_layernorm_param_grads(const float* x, const float* mean, const float* rstd,
                                                    const float* dy, float* dGamma, float* dBeta, int rows, int c) {
    __shared__ double part[PF_ROW_GROUPS][32];
    int j = blockIdx.x * 32 + threadIdx.x;
    bool active = j < c;
    double sgx = 0, sg = 0;
    if (active) {
        for (int r = threadIdx.y; r < rows; r += PF_ROW_GROUPS) {
            long long e = (long long)r * c + j;
            float xhat = (x[e] - mean[r]) * rstd[r];
            sgx += (double)dy[e] * xhat;
            sg += dy[e];
        }
    }
    sgx = pf_column_total(sgx, part);
    sg = pf_column_total(sg, part);
    if (active && threadIdx.y == 0) {
        if (dGamma) dGamma[j] = (float)((double)dGamma[j] + sgx);
        if (dBeta) dBeta[j] = (float)((double)dBeta[j] + sg);
    }
}

// ---------------------------------------------------------------- BatchNorm

// Training statistics per column: mean, rstd = 1/sqrt(biased var + eps), and (nullable) running updates with
// the unbiased variance ss/(rows − 1), as PyTorch (and the reference: NaN for a single row).
extern "C" __global__ void pf_column_stats(const float* x, float* mean, float* rstd, float* runningMean,
                                           float* runningVar, int rows, int c, float eps, float momentum) {
    __shared__ double part[PF_ROW_GROUPS][32];
    int j = blockIdx.x * 32 + threadIdx.x;
    bool active = j < c;
    double s = 0;
    if (active) for (int r = threadIdx.y; r < rows; r += PF_ROW_GROUPS) s += x[(long long)r * c + j];
    double mu = pf_column_total(s, part) / rows;
    double ss = 0;
    if (active) {
        for (int r = threadIdx.y; r < rows; r += PF_ROW_GROUPS) {
            double dlt = x[(long long)r * c + j] - mu;
            ss += dlt * dlt;
        }
    }
    ss = pf_column_total(ss, part);
    if (active && threadIdx.y == 0) {
        mean[j] = (float)mu;
        rstd[j] = (float)(1.0 / sqrt(ss / rows + (double)eps));
        double mom = momentum;
        if (runningMean) runningMean[j] = (float)((1 - mom) * runningMean[j] + mom * mu);
        if (runningVar) runningVar[j] = (float)((1 - mom) * runningVar[j] + mom * (ss / (rows - 1)));
    }
}

// y = (x − mean)·r·gamma + beta with r = scale (train: the batch rstd) or 1/sqrt(scale + eps) (eval: scale is
// the running variance). 1-D over rows·c, blocks of 256, grid stride.
extern "C" __global__ void pf_batchnorm_apply(const float* x, const float* mean, const float* scale,
                                              const float* gamma, const float* beta, float* y, int rows, int c,
                                              float eps, int fromVariance) {
    long long total = (long long)rows * c;
    PF_FOR_EACH(e, total) {
        int j = (int)(e % c);
        float r = fromVariance ? (float)(1.0 / sqrt((double)scale[j] + (double)eps)) : scale[j];
        y[e] = (x[e] - mean[j]) * r * gamma[j] + beta[j];
    }
}

// Backward of either mode: dGamma += Σ dy⊙x̂, dBeta += Σ dy (nullable, double), then dx (nullable, overwritten)
// = gamma·rstd·(dy − Σdy/rows − x̂·Σdy⊙x̂/rows) when the statistics came from x, else gamma·rstd·dy.
extern "C" __global__ void pf_batchnorm_backward(const float* x, const float* gamma, const float* mean,
                                                 const float* rstd, const float* dy, float* dx, float* dGamma,
                                                 float* dBeta, int rows, int c, int batchStatistics) {
    __shared__ double part[PF_ROW_GROUPS][32];
    int j = blockIdx.x * 32 + threadIdx.x;
    bool active = j < c;
    float mu = active ? mean[j] : 0.0f, rs = active ? rstd[j] : 0.0f;
    double sg = 0, sgx = 0;
    if (active) {
        for (int r = threadIdx.y; r < rows; r += PF_ROW_GROUPS) {
            long long e = (long long)r * c + j;
            float xhat = (x[e] - mu) * rs;
            sg += dy[e];
            sgx += (double)dy[e] * xhat;
        }
    }
    sg = pf_column_total(sg, part);
    sgx = pf_column_total(sgx, part);
    if (!active) return;
    if (threadIdx.y == 0) {
        if (dGamma) dGamma[j] = (float)((double)dGamma[j] + sgx);
        if (dBeta) dBeta[j] = (float)((double)dBeta[j] + sg);
    }
    if (!dx) return;
    float meanG = (float)(sg / rows), meanGX = (float)(sgx / rows), gr = gamma[j] * rs;
    for (int r = threadIdx.y; r < rows; r += PF_ROW_GROUPS) {
        long long e = (long long)r * c + j;
        float g = dy[e];
        if (batchStatistics) g = g - meanG - (x[e] - mu) * rs * meanGX;
        dx[e] = g * gr;
    }
}
