// Standalone GPU self-test of the kernels: runs them on small random inputs with the launch geometry of
// dev.polaformer.cuda.CudaKernels and compares each output with a plain double-precision host version of
// the reference backend's maths, printing one PASS/FAIL line per check and a summary. Not built by Maven:
//   nvcc -std=c++17 -O2 -arch=sm_90 -o kernel_selftest native/src/test/cuda/kernel_selftest.cu && ./kernel_selftest
// Without a GPU the same file runs on the CPU through cpu_emulation.h (slow, small sizes; see that header):
//   g++ -std=c++20 -O1 -pthread -DPF_CPU_EMULATION -x c++ -o selftest_cpu native/src/test/cuda/kernel_selftest.cu
// Exit status 0 when every check passes. The Java parity suites on the cuda backend are the full test; this
// isolates a kernel bug from the backend's plumbing.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#ifdef PF_CPU_EMULATION
#include "cpu_emulation.h"
#define LAUNCH(kernel, grid, block, shared) pf_emu::Launch(kernel, grid, block, shared)
#else
#define LAUNCH(kernel, grid, block, shared) kernel<<<grid, block, shared>>>
#endif

#include "../../main/cuda/polaformer_kernels.cu"

using Vec = std::vector<float>;
using DVec = std::vector<double>;

static int failures = 0, checks = 0;

#define CUDA_OK(call)                                                                           \
    do {                                                                                        \
        cudaError_t e_ = (call);                                                                \
        if (e_ != cudaSuccess) {                                                                \
            std::printf("CUDA error %s at %s:%d: %s\n", cudaGetErrorName(e_), __FILE__, __LINE__, \
                        cudaGetErrorString(e_));                                                \
            std::exit(2);                                                                       \
        }                                                                                       \
    } while (0)

static std::mt19937 rng(42);

static Vec randomVec(size_t n, float lo = -1.0f, float hi = 1.0f) {
    std::uniform_real_distribution<float> u(lo, hi);
    Vec v(n);
    for (auto& x : v) x = u(rng);
    return v;
}

// Device buffer holding a copy of host values; freed by the caller at exit (the test is short-lived).
static float* dev(const Vec& v) {
    float* p;
    CUDA_OK(cudaMalloc(&p, std::max<size_t>(1, v.size()) * sizeof(float)));
    if (!v.empty()) CUDA_OK(cudaMemcpy(p, v.data(), v.size() * sizeof(float), cudaMemcpyHostToDevice));
    return p;
}

static Vec host(const float* p, size_t n) {
    Vec v(n);
    CUDA_OK(cudaDeviceSynchronize());
    CUDA_OK(cudaMemcpy(v.data(), p, n * sizeof(float), cudaMemcpyDeviceToHost));
    return v;
}

// |got − ref| ≤ absOfMax·max|ref| + rel·|ref| elementwise, as numerics' Closeness.assertClose.
static void expectClose(const char* what, const DVec& ref, const Vec& got, double absOfMax = 1e-5,
                        double rel = 1e-4) {
    checks++;
    double maxRef = 0, worst = 0;
    for (double r : ref) maxRef = std::max(maxRef, std::fabs(r));
    size_t bad = ref.size();
    for (size_t i = 0; i < ref.size(); i++) {
        double err = std::fabs(got[i] - ref[i]), tol = absOfMax * maxRef + rel * std::fabs(ref[i]);
        if (!(err <= tol) && bad == ref.size()) bad = i;
        worst = std::max(worst, err / std::max(maxRef, 1e-30));
    }
    bool ok = bad == ref.size() && got.size() == ref.size();
    if (!ok) failures++;
    std::printf("%-4s %-44s n=%-7zu worst |err|/max|ref| = %.2e", ok ? "PASS" : "FAIL", what, ref.size(), worst);
    if (!ok && bad < ref.size()) std::printf("  first bad [%zu] ref %.7g got %.7g", bad, ref[bad], got[bad]);
    std::printf("\n");
}

static int ceilDiv(long long a, int b) { return (int)((a + b - 1) / b); }
#ifdef PF_CPU_EMULATION
// The 1-D kernels loop with a grid stride, so any grid covers the work: a small one keeps the emulation (a
// thread per CUDA thread) fast on large inputs.
static int grid1d(long long n) { return std::min(ceilDiv(n, 256), 64); }
#else
static int grid1d(long long n) { return std::min(ceilDiv(n, 256), 1 << 16); }
#endif

static double* devDoubles(size_t n) {
    double* p;
    CUDA_OK(cudaMalloc(&p, std::max<size_t>(1, n) * sizeof(double)));
    return p;
}

// ---------------------------------------------------------------- CudaKernels' two-stage reductions

// CudaKernels.reductionChunks: about 4 blocks per SM of an H100 (132), at least 256 rows a chunk.
static int reductionChunks(long long rows, long long columns) {
    long long columnBlocks = std::max(1LL, (columns + 31) / 32);
    long long chunks = std::min(std::max(1LL, 4 * 132 / columnBlocks), (rows + 255) / 256);
    return (int)std::max(1LL, std::min(chunks, 65535LL));
}

// CudaKernels.reduceTo (shapes padded to 4-D).
static void reduceTo(const float* a, const float* b, float* out, const int* d, const int* e, int accumulate) {
    long long outSize = (long long)e[0] * e[1] * e[2] * e[3], all = (long long)d[0] * d[1] * d[2] * d[3];
    int chunks = reductionChunks(all / outSize, outSize);
    double* part = devDoubles((size_t)chunks * outSize);
    LAUNCH(pf_reduce_to, dim3(ceilDiv(outSize, 32), chunks), dim3(32, 8), 0)(a, b, part, d[0], d[1], d[2], d[3],
                                                                               e[0], e[1], e[2], e[3]);
    LAUNCH(pf_reduce_finish, grid1d(outSize), 256, 0)(part, chunks, (int)outSize, out, (float*)nullptr, accumulate);
}

// CudaKernels.layerNormParamGrads.
static void layerNormParamGrads(const float* x, const float* mean, const float* rstd, const float* dy, float* dGamma,
                                float* dBeta, int rows, int c) {
    int chunks = reductionChunks(rows, c);
    double* part = devDoubles(2 * (size_t)chunks * c);
    LAUNCH(pf_norm_grad_sums, dim3(ceilDiv(c, 32), chunks), 256, 0)(x, mean, rstd, dy, part, rows, c, 1);
    LAUNCH(pf_reduce_finish, grid1d(c), 256, 0)(part, chunks, c, dGamma, dBeta, 1);
}

// CudaKernels.columnStats (affine nullable, 3·c floats).
static void columnStats(const float* x, const float* gamma, float* mean, float* rstd, float* runningMean,
                        float* runningVar, float* affine, int rows, int c, float eps, float momentum) {
    int chunks = reductionChunks(rows, c);
    double* part = devDoubles(2 * (size_t)chunks * c);
    LAUNCH(pf_column_moments, dim3(ceilDiv(c, 32), chunks), 256, 0)(x, part, rows, c);
    LAUNCH(pf_column_stats_finish, grid1d(c), 256, 0)(part, chunks, x, gamma, mean, rstd, runningMean, runningVar,
                                                      affine, rows, c, eps, momentum);
}

// CudaKernels.batchNormBackward.
static void batchNormBackward(const float* x, const float* gamma, const float* mean, const float* rstd,
                              const float* dy, float* dx, float* dGamma, float* dBeta, int rows, int c,
                              int batchStatistics) {
    int chunks = reductionChunks(rows, c);
    double* part = devDoubles(2 * (size_t)chunks * c);
    float* coef = dev(Vec(2 * c));
    LAUNCH(pf_norm_grad_sums, dim3(ceilDiv(c, 32), chunks), 256, 0)(x, mean, rstd, dy, part, rows, c, 0);
    LAUNCH(pf_batchnorm_backward_finish, grid1d(c), 256, 0)(part, chunks, rstd, dGamma, dBeta, coef, rows, c);
    LAUNCH(pf_batchnorm_backward_dx, grid1d((long long)rows * c), 256, 0)(x, gamma, mean, rstd, dy, coef, dx, rows, c,
                                                                         batchStatistics);
}

// ---------------------------------------------------------------- host references (double)

static void rotate(const double* x, const Vec& sin, const Vec& cos, size_t tab, int d, bool inverse, double* y) {
    for (int i = 0; i < d; i += 2) {
        double a = x[i], b = x[i + 1];
        double c0 = cos[tab + i], c1 = cos[tab + i + 1], s0 = sin[tab + i], s1 = sin[tab + i + 1];
        if (!inverse) {
            y[i] = a * c0 - b * s0;
            y[i + 1] = b * c1 + a * s1;
        } else {
            y[i] = a * c0 + b * s1;
            y[i + 1] = -a * s0 + b * c1;
        }
    }
}

static Vec ropeTable(int n, int width, bool isSin) {
    Vec t(n * width);
    for (int r = 0; r < n; r++)
        for (int j = 0; j < width; j++) {
            double angle = (r % 7) * 0.3 + 0.1 * j;
            t[r * width + j] = (float)(isSin ? std::sin(angle) : std::cos(angle));
        }
    return t;
}

static double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

// Linear attention forward and backward in double (reference AttentionKernels, contiguous (B, N, C)).
struct LinearRef {
    int b, n, c, heads, d;
    const Vec &q, &k, &v, &s1, &s2, &sin, &cos;
    DVec out, dq, dk, dv, ds1, ds2;

    void features(size_t qo, bool opp, const double* sig, double* phi) const {
        for (int i = 0; i < d; i++) {
            double pos = std::max<double>(q[qo + i], 0), neg = std::max<double>(-q[qo + i], 0);
            phi[i] = std::exp((opp ? neg : pos) * sig[i]) - 1;
            phi[d + i] = std::exp((opp ? pos : neg) * sig[d + i]) - 1;
        }
    }

    void run(const Vec& dOut) {
        int dd = 2 * d, half = d / 2;
        out.assign(q.size(), 0); dq.assign(q.size(), 0); dk.assign(q.size(), 0); dv.assign(q.size(), 0);
        ds1.assign(heads * dd, 0); ds2.assign(heads * dd, 0);
        for (int p = 0; p < b; p++)
            for (int h = 0; h < heads; h++) {
                DVec sig1(dd), sig2(dd), kappa(n * dd), rotated(n * dd), m(dd, 0), S[2] = {DVec(dd * half, 0), DVec(dd * half, 0)};
                for (int j = 0; j < dd; j++) { sig1[j] = sigmoid(s1[h * dd + j]); sig2[j] = sigmoid(s2[h * dd + j]); }
                for (int t = 0; t < n; t++) {
                    size_t o = ((size_t)p * n + t) * c + h * d;
                    for (int i = 0; i < d; i++) {
                        kappa[t * dd + i] = std::exp(std::max<double>(k[o + i], 0)) - 1;
                        kappa[t * dd + d + i] = std::exp(std::max<double>(-k[o + i], 0)) - 1;
                    }
                    for (int j = 0; j < dd; j++) m[j] += kappa[t * dd + j];
                    rotate(&kappa[t * dd], sin, cos, (size_t)t * dd, dd, false, &rotated[t * dd]);
                    for (int i = 0; i < dd; i++)
                        for (int j = 0; j < half; j++) {
                            S[0][i * half + j] += rotated[t * dd + i] * v[o + j];
                            S[1][i * half + j] += rotated[t * dd + i] * v[o + half + j];
                        }
                }
                for (auto& x : m) x /= n;
                for (auto& x : S[0]) x /= n;
                for (auto& x : S[1]) x /= n;
                DVec dS[2] = {DVec(dd * half, 0), DVec(dd * half, 0)}, dSig[2] = {DVec(dd, 0), DVec(dd, 0)}, dm(dd, 0);
                DVec phi(dd), rot(dd), dRot(dd), dPhi(dd);
                for (int t = 0; t < n; t++) {
                    size_t o = ((size_t)p * n + t) * c + h * d;
                    for (int f = 0; f < 2; f++) {
                        const DVec& sig = f == 0 ? sig1 : sig2;
                        features(o, f == 1, sig.data(), phi.data());
                        double z = 1e-6;
                        for (int j = 0; j < dd; j++) z += phi[j] * m[j];
                        rotate(phi.data(), sin, cos, (size_t)t * dd, dd, false, rot.data());
                        double dz = 0;
                        std::fill(dRot.begin(), dRot.end(), 0.0);
                        for (int j = 0; j < half; j++) {
                            double a = 0;
                            for (int i = 0; i < dd; i++) a += rot[i] * S[f][i * half + j];
                            out[o + f * half + j] = a / z;
                            double g = dOut[o + f * half + j];
                            dz -= g * a / (z * z);
                            for (int i = 0; i < dd; i++) {
                                dRot[i] += S[f][i * half + j] * g / z;
                                dS[f][i * half + j] += rot[i] * g / z;
                            }
                        }
                        rotate(dRot.data(), sin, cos, (size_t)t * dd, dd, true, dPhi.data());
                        for (int j = 0; j < dd; j++) { dPhi[j] += dz * m[j]; dm[j] += dz * phi[j]; }
                        for (int i = 0; i < d; i++) {
                            double qv = q[o + i], pos = std::max(qv, 0.0), neg = std::max(-qv, 0.0);
                            double x0 = f == 0 ? pos : neg, x1 = f == 0 ? neg : pos;
                            double g0 = dPhi[i] * (phi[i] + 1), g1 = dPhi[d + i] * (phi[d + i] + 1);
                            dSig[f][i] += g0 * x0;
                            dSig[f][d + i] += g1 * x1;
                            double dx0 = g0 * sig[i], dx1 = g1 * sig[d + i];
                            double dPos = f == 0 ? dx0 : dx1, dNeg = f == 0 ? dx1 : dx0;
                            if (qv > 0) dq[o + i] += dPos;
                            if (qv < 0) dq[o + i] -= dNeg;
                        }
                    }
                }
                DVec dKr(dd), dKappa(dd);
                for (int t = 0; t < n; t++) {
                    size_t o = ((size_t)p * n + t) * c + h * d;
                    for (int i = 0; i < dd; i++) {
                        double acc = 0;
                        for (int j = 0; j < half; j++) acc += dS[0][i * half + j] * v[o + j] + dS[1][i * half + j] * v[o + half + j];
                        dKr[i] = acc / n;
                    }
                    for (int j = 0; j < half; j++) {
                        double a1 = 0, a2 = 0;
                        for (int i = 0; i < dd; i++) {
                            a1 += dS[0][i * half + j] * rotated[t * dd + i];
                            a2 += dS[1][i * half + j] * rotated[t * dd + i];
                        }
                        dv[o + j] = a1 / n;
                        dv[o + half + j] = a2 / n;
                    }
                    rotate(dKr.data(), sin, cos, (size_t)t * dd, dd, true, dKappa.data());
                    for (int i = 0; i < d; i++) {
                        double kv = k[o + i];
                        double gPos = (dKappa[i] + dm[i] / n) * (kappa[t * dd + i] + 1);
                        double gNeg = (dKappa[d + i] + dm[d + i] / n) * (kappa[t * dd + d + i] + 1);
                        dk[o + i] = (kv > 0 ? gPos : 0) - (kv < 0 ? gNeg : 0);
                    }
                }
                for (int j = 0; j < dd; j++) {
                    ds1[h * dd + j] += dSig[0][j] * sig1[j] * (1 - sig1[j]);
                    ds2[h * dd + j] += dSig[1][j] * sig2[j] * (1 - sig2[j]);
                }
            }
    }
};

// Softmax attention forward and backward in double (reference AttentionKernels, contiguous (B, N, C)).
static void softmaxAttentionRef(int b, int n, int c, int heads, const Vec& q, const Vec& k, const Vec& v,
                                const Vec& sin, const Vec& cos, const Vec& dOut, DVec& out, DVec& dq, DVec& dk,
                                DVec& dv) {
    int d = c / heads;
    double scale = 1 / std::sqrt((double)d);
    out.assign(q.size(), 0); dq.assign(q.size(), 0); dk.assign(q.size(), 0); dv.assign(q.size(), 0);
    for (int p = 0; p < b; p++)
        for (int h = 0; h < heads; h++) {
            DVec qr(n * d), kr(n * d), P(n * n), dP(n * n), dqr(n * d, 0), dkr(n * d, 0), tmp(d);
            for (int t = 0; t < n; t++) {
                size_t o = ((size_t)p * n + t) * c + h * d;
                for (int e = 0; e < d; e++) tmp[e] = q[o + e];
                rotate(tmp.data(), sin, cos, (size_t)t * d, d, false, &qr[t * d]);
                for (int e = 0; e < d; e++) tmp[e] = k[o + e];
                rotate(tmp.data(), sin, cos, (size_t)t * d, d, false, &kr[t * d]);
            }
            for (int i = 0; i < n; i++) {
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j < n; j++) {
                    double s = 0;
                    for (int e = 0; e < d; e++) s += qr[i * d + e] * kr[j * d + e];
                    P[i * n + j] = scale * s;
                    mx = std::max(mx, P[i * n + j]);
                }
                for (int j = 0; j < n; j++) sum += (P[i * n + j] = std::exp(P[i * n + j] - mx));
                for (int j = 0; j < n; j++) P[i * n + j] /= sum;
            }
            auto at = [&](int t, int e) { return ((size_t)p * n + t) * c + h * d + e; };
            for (int i = 0; i < n; i++)
                for (int e = 0; e < d; e++) {
                    double s = 0;
                    for (int j = 0; j < n; j++) s += P[i * n + j] * v[at(j, e)];
                    out[at(i, e)] = s;
                }
            for (int i = 0; i < n; i++) {
                double dot = 0;
                for (int j = 0; j < n; j++) {
                    double s = 0;
                    for (int e = 0; e < d; e++) s += dOut[at(i, e)] * v[at(j, e)];
                    dP[i * n + j] = s;
                    dot += s * P[i * n + j];
                }
                for (int j = 0; j < n; j++) {
                    double g = scale * P[i * n + j] * (dP[i * n + j] - dot);
                    for (int e = 0; e < d; e++) {
                        dqr[i * d + e] += g * kr[j * d + e];
                        dkr[j * d + e] += g * qr[i * d + e];
                    }
                }
            }
            for (int j = 0; j < n; j++)
                for (int e = 0; e < d; e++) {
                    double s = 0;
                    for (int i = 0; i < n; i++) s += P[i * n + j] * dOut[at(i, e)];
                    dv[at(j, e)] = s;
                }
            for (int t = 0; t < n; t++) {
                rotate(&dqr[t * d], sin, cos, (size_t)t * d, d, true, &dq[at(t, 0)]);
                rotate(&dkr[t * d], sin, cos, (size_t)t * d, d, true, &dk[at(t, 0)]);
            }
        }
}

// ---------------------------------------------------------------- checks

static void checkPointwise() {
    int n = 10007;
    Vec x = randomVec(n, -4, 4), dy = randomVec(n);
    float *dx_ = dev(x), *ddy = dev(dy), *dout = dev(Vec(n));
    DVec ref(n);
    LAUNCH(pf_gelu, grid1d(n), 256, 0)(dx_, dout, n);
    for (int i = 0; i < n; i++) ref[i] = 0.5 * x[i] * (1 + std::erf(x[i] / std::sqrt(2.0)));
    expectClose("pf_gelu", ref, host(dout, n));
    LAUNCH(pf_gelu_backward, grid1d(n), 256, 0)(dx_, ddy, dout, n);
    for (int i = 0; i < n; i++) {
        double xv = x[i];
        ref[i] = dy[i] * (0.5 * (1 + std::erf(xv / std::sqrt(2.0))) + xv * std::exp(-0.5 * xv * xv) / std::sqrt(2 * M_PI));
    }
    expectClose("pf_gelu_backward", ref, host(dout, n));
    LAUNCH(pf_silu, grid1d(n), 256, 0)(dx_, dout, n);
    for (int i = 0; i < n; i++) ref[i] = x[i] * sigmoid(x[i]);
    expectClose("pf_silu", ref, host(dout, n));
    LAUNCH(pf_silu_backward, grid1d(n), 256, 0)(dx_, ddy, dout, n);
    for (int i = 0; i < n; i++) { double s = sigmoid(x[i]); ref[i] = dy[i] * s * (1 + x[i] * (1 - s)); }
    expectClose("pf_silu_backward", ref, host(dout, n));

    int rows = 37, cols = 1001;
    Vec xs = randomVec(rows * cols, -5, 5), g = randomVec(rows * cols);
    float *dxs = dev(xs), *dg = dev(g), *dy2 = dev(Vec(rows * cols)), *ddx = dev(Vec(rows * cols));
    LAUNCH(pf_softmax_rows, rows, 256, 0)(dxs, dy2, rows, cols);
    DVec y(rows * cols), dxr(rows * cols);
    for (int r = 0; r < rows; r++) {
        double mx = -INFINITY, s = 0, dot = 0;
        for (int j = 0; j < cols; j++) mx = std::max(mx, (double)xs[r * cols + j]);
        for (int j = 0; j < cols; j++) s += (y[r * cols + j] = std::exp(xs[r * cols + j] - mx));
        for (int j = 0; j < cols; j++) y[r * cols + j] /= s;
        for (int j = 0; j < cols; j++) dot += g[r * cols + j] * y[r * cols + j];
        for (int j = 0; j < cols; j++) dxr[r * cols + j] = y[r * cols + j] * (g[r * cols + j] - dot);
    }
    Vec yGot = host(dy2, rows * cols);
    expectClose("pf_softmax_rows", y, yGot);
    LAUNCH(pf_softmax_backward_rows, rows, 256, 0)(dy2, dg, ddx, rows, cols);
    expectClose("pf_softmax_backward_rows", dxr, host(ddx, rows * cols), 1e-5, 1e-3);

    // reduce_to: (3, 5, 7, 6) summed to (1, 5, 1, 6), accumulating onto ones, with a product.
    int d0 = 3, d1 = 5, d2 = 7, d3 = 6, outSize = d1 * d3;
    Vec a = randomVec(d0 * d1 * d2 * d3), bb = randomVec(d0 * d1 * d2 * d3), ones(outSize, 1.0f);
    float *da = dev(a), *db = dev(bb), *dred = dev(ones);
    int dShape[4] = {d0, d1, d2, d3}, eShape[4] = {1, d1, 1, d3};
    reduceTo(da, db, dred, dShape, eShape, 1);
    DVec red(outSize, 1.0);
    for (int i0 = 0; i0 < d0; i0++) for (int i1 = 0; i1 < d1; i1++) for (int i2 = 0; i2 < d2; i2++)
        for (int i3 = 0; i3 < d3; i3++) {
            size_t e = ((size_t)(i0 * d1 + i1) * d2 + i2) * d3 + i3;
            red[i1 * d3 + i3] += (double)a[e] * bb[e];
        }
    expectClose("pf_reduce_to (mulSumTo, accumulate)", red, host(dred, outSize));
}

static void checkNorms() {
    int rows = 203, c = 70;
    float eps = 1e-5f;
    Vec x = randomVec(rows * c, -2, 3), gamma = randomVec(c), beta = randomVec(c), dy = randomVec(rows * c);
    Vec dGamma0 = randomVec(c), dBeta0 = randomVec(c);
    float *dx_ = dev(x), *dgam = dev(gamma), *dbet = dev(beta), *ddy = dev(dy), *dyOut = dev(Vec(rows * c));
    float *dmean = dev(Vec(rows)), *drstd = dev(Vec(rows)), *ddx = dev(Vec(rows * c));
    float *ddg = dev(dGamma0), *ddb = dev(dBeta0);
    LAUNCH(pf_layernorm_forward, ceilDiv(rows, 8), 256, 0)(dx_, dgam, dbet, dyOut, dmean, drstd, rows, c, eps);
    LAUNCH(pf_layernorm_backward, ceilDiv(rows, 8), 256, 0)(dx_, dgam, dmean, drstd, ddy, ddx, rows, c);
    layerNormParamGrads(dx_, dmean, drstd, ddy, ddg, ddb, rows, c);
    DVec y(rows * c), dxr(rows * c), dg(dGamma0.begin(), dGamma0.end()), dbt(dBeta0.begin(), dBeta0.end());
    for (int r = 0; r < rows; r++) {
        double mu = 0, var = 0, mg = 0, mgx = 0;
        for (int j = 0; j < c; j++) mu += x[r * c + j];
        mu /= c;
        for (int j = 0; j < c; j++) var += (x[r * c + j] - mu) * (x[r * c + j] - mu);
        double rs = 1 / std::sqrt(var / c + eps);
        for (int j = 0; j < c; j++) {
            double xh = (x[r * c + j] - mu) * rs, g = dy[r * c + j] * gamma[j];
            y[r * c + j] = xh * gamma[j] + beta[j];
            mg += g; mgx += g * xh;
            dg[j] += dy[r * c + j] * xh; dbt[j] += dy[r * c + j];
        }
        mg /= c; mgx /= c;
        for (int j = 0; j < c; j++) {
            double xh = (x[r * c + j] - mu) * rs;
            dxr[r * c + j] = rs * (dy[r * c + j] * gamma[j] - mg - xh * mgx);
        }
    }
    expectClose("pf_layernorm_forward", y, host(dyOut, rows * c));
    expectClose("pf_layernorm_backward", dxr, host(ddx, rows * c), 1e-5, 1e-3);
    expectClose("pf_layernorm_param_grads dGamma", dg, host(ddg, c));
    expectClose("pf_layernorm_param_grads dBeta", dbt, host(ddb, c));

    // BatchNorm train: statistics, apply, backward with batch statistics.
    Vec rm = randomVec(c), rv = randomVec(c, 0.5f, 1.5f);
    float *dbm = dev(Vec(c)), *dbr = dev(Vec(c)), *drm = dev(rm), *drv = dev(rv);
    float *dg2 = dev(dGamma0), *db2 = dev(dBeta0);
    float momentum = 0.1f;
    float* daff = dev(Vec(3 * c));
    columnStats(dx_, dgam, dbm, dbr, drm, drv, daff, rows, c, eps, momentum);
    LAUNCH(pf_batchnorm_apply, grid1d((long long)rows * c), 256, 0)(dx_, daff, dbet, dyOut, rows, c);
    batchNormBackward(dx_, dgam, dbm, dbr, ddy, ddx, dg2, db2, rows, c, 1);
    DVec by(rows * c), bdx(rows * c), rmr(c), rvr(c), bdg(dGamma0.begin(), dGamma0.end()), bdb(dBeta0.begin(), dBeta0.end());
    for (int j = 0; j < c; j++) {
        double mu = 0, ss = 0, sg = 0, sgx = 0;
        for (int r = 0; r < rows; r++) mu += x[r * c + j];
        mu /= rows;
        for (int r = 0; r < rows; r++) ss += (x[r * c + j] - mu) * (x[r * c + j] - mu);
        double rs = 1 / std::sqrt(ss / rows + eps);
        rmr[j] = (1 - momentum) * rm[j] + momentum * mu;
        rvr[j] = (1 - momentum) * rv[j] + momentum * ss / (rows - 1);
        for (int r = 0; r < rows; r++) {
            double xh = (x[r * c + j] - mu) * rs;
            by[r * c + j] = xh * gamma[j] + beta[j];
            sg += dy[r * c + j]; sgx += dy[r * c + j] * xh;
        }
        bdg[j] += sgx; bdb[j] += sg;
        for (int r = 0; r < rows; r++) {
            double xh = (x[r * c + j] - mu) * rs;
            bdx[r * c + j] = (dy[r * c + j] - sg / rows - xh * sgx / rows) * gamma[j] * rs;
        }
    }
    expectClose("pf_column_stats runningMean", rmr, host(drm, c));
    expectClose("pf_column_stats runningVar", rvr, host(drv, c));
    expectClose("pf_batchnorm_apply (train)", by, host(dyOut, rows * c));
    expectClose("pf_batchnorm_backward dx", bdx, host(ddx, rows * c), 1e-5, 1e-3);
    expectClose("pf_batchnorm_backward dGamma", bdg, host(dg2, c));
    expectClose("pf_batchnorm_backward dBeta", bdb, host(db2, c));
}

// BatchNorm training references in double, per column of x (rows, c): two-pass statistics, y, and the
// backward (dx, dGamma, dBeta accumulated onto their arguments) with the batch statistics.
struct BatchNormRef {
    DVec mean, rstd, runningMean, runningVar, y, dx, dGamma, dBeta;

    BatchNormRef(const Vec& x, const Vec& gamma, const Vec& beta, const Vec& dy, const Vec& rm, const Vec& rv,
                 const Vec& g0, const Vec& b0, int rows, int c, float eps, float momentum)
        : mean(c), rstd(c), runningMean(c), runningVar(c), y(x.size()), dx(x.size()), dGamma(g0.begin(), g0.end()),
          dBeta(b0.begin(), b0.end()) {
        for (int j = 0; j < c; j++) {
            double mu = 0, ss = 0, sg = 0, sgx = 0;
            for (int r = 0; r < rows; r++) mu += x[(size_t)r * c + j];
            mu /= rows;
            for (int r = 0; r < rows; r++) ss += (x[(size_t)r * c + j] - mu) * (x[(size_t)r * c + j] - mu);
            double rs = 1 / std::sqrt(ss / rows + eps);
            mean[j] = mu;
            rstd[j] = rs;
            runningMean[j] = (1 - momentum) * rm[j] + momentum * mu;
            runningVar[j] = (1 - momentum) * rv[j] + momentum * ss / (rows - 1);
            for (int r = 0; r < rows; r++) {
                size_t e = (size_t)r * c + j;
                double xh = (x[e] - mu) * rs;
                y[e] = xh * gamma[j] + beta[j];
                sg += dy.empty() ? 0 : dy[e];
                sgx += dy.empty() ? 0 : dy[e] * xh;
            }
            dGamma[j] += sgx;
            dBeta[j] += sg;
            for (int r = 0; r < rows && !dy.empty(); r++) {
                size_t e = (size_t)r * c + j;
                double xh = (x[e] - mu) * rs;
                dx[e] = (dy[e] - sg / rows - xh * sgx / rows) * gamma[j] * rs;
            }
        }
    }
};

// The two-stage column reductions over many rows (several chunks, the last one shorter) against double maths.
static void checkColumnReductions(int rows, int c) {
    char what[96];
    auto label = [&](const char* kernel) {
        std::snprintf(what, sizeof what, "%s %dx%d", kernel, rows, c);
        return what;
    };
    size_t n = (size_t)rows * c;
    float eps = 1e-5f, momentum = 0.1f;
    Vec x = randomVec(n, 2, 3), dy = randomVec(n), gamma = randomVec(c), beta = randomVec(c);
    Vec rowMean = randomVec(rows, 2, 3), rowRstd = randomVec(rows, 0.5f, 2), g0 = randomVec(c), b0 = randomVec(c);
    Vec rm = randomVec(c), rv = randomVec(c, 0.5f, 1.5f);
    float *dx_ = dev(x), *ddy = dev(dy), *dgam = dev(gamma), *dbet = dev(beta);

    // columnSum (bias gradients): (rows, c) summed to (1, c), accumulating.
    float* dsum = dev(g0);
    int dShape[4] = {1, 1, rows, c}, eShape[4] = {1, 1, 1, c};
    reduceTo(ddy, nullptr, dsum, dShape, eShape, 1);
    DVec sum(g0.begin(), g0.end());
    for (size_t e = 0; e < n; e++) sum[e % c] += dy[e];
    expectClose(label("pf_reduce_to (columnSum)"), sum, host(dsum, c));

    // LayerNorm parameter gradients with given row statistics.
    float *drmu = dev(rowMean), *drrs = dev(rowRstd), *ddg = dev(g0), *ddb = dev(b0);
    layerNormParamGrads(dx_, drmu, drrs, ddy, ddg, ddb, rows, c);
    DVec lg(g0.begin(), g0.end()), lb(b0.begin(), b0.end());
    for (size_t e = 0; e < n; e++) {
        size_t r = e / c;
        lg[e % c] += dy[e] * ((x[e] - (double)rowMean[r]) * rowRstd[r]);
        lb[e % c] += dy[e];
    }
    expectClose(label("layerNormParamGrads dGamma"), lg, host(ddg, c));
    expectClose(label("layerNormParamGrads dBeta"), lb, host(ddb, c));

    // BatchNorm train: statistics, apply, backward with the batch statistics.
    BatchNormRef ref(x, gamma, beta, dy, rm, rv, g0, b0, rows, c, eps, momentum);
    float *dmean = dev(Vec(c)), *drstd = dev(Vec(c)), *drm = dev(rm), *drv = dev(rv), *daff = dev(Vec(3 * c));
    float *dyOut = dev(Vec(n)), *ddx = dev(Vec(n)), *dg2 = dev(g0), *db2 = dev(b0);
    columnStats(dx_, dgam, dmean, drstd, drm, drv, daff, rows, c, eps, momentum);
    LAUNCH(pf_batchnorm_apply, grid1d((long long)n), 256, 0)(dx_, daff, dbet, dyOut, rows, c);
    batchNormBackward(dx_, dgam, dmean, drstd, ddy, ddx, dg2, db2, rows, c, 1);
    expectClose(label("columnStats mean"), ref.mean, host(dmean, c), 1e-6, 1e-6);
    expectClose(label("columnStats rstd"), ref.rstd, host(drstd, c), 1e-6, 1e-5);
    expectClose(label("columnStats runningMean"), ref.runningMean, host(drm, c));
    expectClose(label("columnStats runningVar"), ref.runningVar, host(drv, c));
    expectClose(label("pf_batchnorm_apply (train)"), ref.y, host(dyOut, n));
    expectClose(label("batchNormBackward dx"), ref.dx, host(ddx, n), 1e-5, 1e-3);
    expectClose(label("batchNormBackward dGamma"), ref.dGamma, host(dg2, c));
    expectClose(label("batchNormBackward dBeta"), ref.dBeta, host(db2, c));

    // BatchNorm eval: the running statistics, and the backward through them (dx = dy·gamma·rstd).
    float *drm0 = dev(rm), *drv0 = dev(rv);
    LAUNCH(pf_batchnorm_affine, grid1d(c), 256, 0)(drm0, drv0, dgam, daff, c, eps, 1);
    LAUNCH(pf_batchnorm_apply, grid1d((long long)n), 256, 0)(dx_, daff, dbet, dyOut, rows, c);
    batchNormBackward(dx_, dgam, drm0, drstd, ddy, ddx, (float*)nullptr, (float*)nullptr, rows, c, 0);
    DVec ye(n), dxe(n);
    for (size_t e = 0; e < n; e++) {
        size_t j = e % c;
        ye[e] = (x[e] - (double)rm[j]) / std::sqrt((double)rv[j] + eps) * gamma[j] + beta[j];
        dxe[e] = dy[e] * (double)gamma[j] * ref.rstd[j];
    }
    expectClose(label("pf_batchnorm_apply (eval)"), ye, host(dyOut, n));
    expectClose(label("batchNormBackward dx (eval)"), dxe, host(ddx, n));
}

// Train-mode BatchNorm over two close rows: the mean's float rounding, magnified by rstd, once broke parity
// ("batchNorm [2, 1, 1, 64] train y: element 28 is -0.416227907, expected -0.416203052").
static void checkBatchNormCloseRows() {
    int rows = 2, c = 64;
    float eps = 1e-5f;
    Vec x(rows * c), gamma = randomVec(c), beta = randomVec(c), none;
    for (int j = 0; j < c; j++) {
        x[j] = 1000.1f + 0.25f * (j % 5);
        x[c + j] = x[j] + 0.1f * (1 + j % 3);
    }
    BatchNormRef ref(x, gamma, beta, none, Vec(c), Vec(c), Vec(c), Vec(c), rows, c, eps, 0.1f);
    float *dx_ = dev(x), *dgam = dev(gamma), *dbet = dev(beta), *dmean = dev(Vec(c)), *drstd = dev(Vec(c));
    float *daff = dev(Vec(3 * c)), *dyOut = dev(Vec(rows * c));
    columnStats(dx_, dgam, dmean, drstd, (float*)nullptr, (float*)nullptr, daff, rows, c, eps, 0.1f);
    LAUNCH(pf_batchnorm_apply, grid1d(rows * c), 256, 0)(dx_, daff, dbet, dyOut, rows, c);
    expectClose("pf_batchnorm_apply (train, 2 close rows)", ref.y, host(dyOut, rows * c), 1e-6, 1e-6);
    expectClose("columnStats rstd (2 close rows)", ref.rstd, host(drstd, c), 1e-6, 1e-5);
}

// CudaKernels.depthwiseConv's launch over `pixels` (the host buffers are 16-byte aligned): float4 threads when
// c % 4 == 0, channel groups whose weights fit 16 KiB of shared memory (`maxGroup` lowers that to test several
// groups), and fewer blocks in the emulation (the kernel walks the pixels with a grid stride).
template <class Kernel, class... A>
static void depthwiseConv(Kernel kernel, long long pixels, int c, int k, int maxGroup, A... args) {
    int vec = c % 4 == 0 ? 4 : 1, vectors = c / vec, tapBytes = k * k * 4 * vec;
    maxGroup = std::min(std::min(maxGroup, std::max(1, 16384 / tapBytes)), 256);
    int groups = ceilDiv(vectors, maxGroup), group = ceilDiv(vectors, groups), slots = 256 / group;
#ifdef PF_CPU_EMULATION
    int cap = 6;
#else
    int cap = 8 * 132;
#endif
    int blocks = std::min(ceilDiv(pixels, slots), std::max(1, cap / groups));
    LAUNCH(kernel, dim3(blocks, groups), 256, (size_t)group * tapBytes)(args..., vec);
}

// CudaKernels.depthwiseWeightChunks.
static int depthwiseWeightChunks(int b, int h, int w, int c, int k, int pad) {
    long long wo = std::max(0, w + 2 * pad - k + 1), items = (long long)b * std::max(0, h + 2 * pad - k + 1) * ((wo + 63) / 64);
    long long chunks = std::min(std::max(1LL, 528LL / std::max(1, (c + 31) / 32)), (items + 15) / 16);
    return (int)std::max(1LL, std::min(chunks, 65535LL));
}

static void checkDepthwise(int b, int h, int w, int c, int k, int pad, int maxGroup = 256) {
    int ho = h + 2 * pad - k + 1, wo = w + 2 * pad - k + 1;
    std::printf("     depthwise b=%d %dx%d c=%d k=%d pad=%d\n", b, h, w, c, k, pad);
    Vec x = randomVec(b * h * w * c), wt = randomVec(c * k * k), bias = randomVec(c), dy = randomVec(b * ho * wo * c);
    Vec dW0 = randomVec(c * k * k);
    float *dx_ = dev(x), *dw = dev(wt), *dbias = dev(bias), *ddy = dev(dy), *dyOut = dev(Vec(b * ho * wo * c));
    float *ddx = dev(Vec(b * h * w * c)), *ddw = dev(dW0);
    depthwiseConv(pf_depthwise_forward, (long long)b * ho * wo, c, k, maxGroup, (const float*)dx_, (const float*)dw,
                  (const float*)dbias, dyOut, b, h, w, c, k, pad);
    depthwiseConv(pf_depthwise_backward_input, (long long)b * h * w, c, k, maxGroup, (const float*)ddy,
                  (const float*)dw, ddx, b, h, w, c, k, pad);
    int chunks = depthwiseWeightChunks(b, h, w, c, k, pad);
    double* partial = nullptr;
    CUDA_OK(cudaMalloc(&partial, sizeof(double) * chunks * k * k * c));
    LAUNCH(pf_depthwise_backward_weight, dim3(ceilDiv(c, 32), chunks), dim3(32, 8), 0)(dx_, ddy, partial, b, h, w, c,
                                                                                      k, pad);
    LAUNCH(pf_depthwise_backward_weight_finish, grid1d((long long)k * k * c), 256, 0)(partial, ddw, c, k * k, chunks);
    DVec y(b * ho * wo * c), dxr(b * h * w * c, 0), dwr(dW0.begin(), dW0.end());
    for (int n = 0; n < b; n++) for (int oh = 0; oh < ho; oh++) for (int ow = 0; ow < wo; ow++)
        for (int ch = 0; ch < c; ch++) {
            size_t o = ((size_t)(n * ho + oh) * wo + ow) * c + ch;
            double s = bias[ch];
            for (int i = 0; i < k; i++) for (int j = 0; j < k; j++) {
                int ih = oh - pad + i, iw = ow - pad + j;
                if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
                size_t xi = ((size_t)(n * h + ih) * w + iw) * c + ch, wi = (ch * k + i) * k + j;
                s += x[xi] * wt[wi];
                dxr[xi] += dy[o] * wt[wi];
                dwr[wi] += dy[o] * x[xi];
            }
            y[o] = s;
        }
    expectClose("pf_depthwise_forward", y, host(dyOut, y.size()));
    expectClose("pf_depthwise_backward_input", dxr, host(ddx, dxr.size()));
    expectClose("pf_depthwise_backward_weight", dwr, host(ddw, dwr.size()));
}

// CudaKernels.linearSumTiles and linearChunks: 64 × 64 output blocks (columns in `flows` groups padded to 16),
// about 4 blocks per SM of an H100 (132), at least 256 tokens a chunk.
static int linearSumTiles(int d, int flows) {
    int padded = (d / flows + 15) / 16 * 16;
    return ceilDiv(2 * d, 64) * ceilDiv((long long)flows * padded, 64);
}

static int linearChunks(int bh, int n, int tiles) {
    long long blocks = (long long)bh * tiles;
    long long chunks = std::min((4 * 132 + blocks - 1) / blocks, (n + 255LL) / 256);
    return (int)std::max(1LL, std::min(chunks, 65535LL));
}

// Linear attention through the same kernel sequence as the backend, q/k/v as column slices of one (B, N, 4C)
// buffer (row stride 4C), for head widths 4 to 128 (S in shared memory up to 64, read in place above).
static void checkLinearAttention(int b, int n, int c, int heads) {
    int d = c / heads, dd = 2 * d, ld = 4 * c;
    Vec qkvg = randomVec((size_t)b * n * ld, -1.5f, 1.5f), s1 = randomVec(heads * dd), s2 = randomVec(heads * dd);
    Vec q(b * n * c), k(b * n * c), v(b * n * c), dOut = randomVec(b * n * c);
    for (size_t t = 0; t < (size_t)b * n; t++)
        for (int j = 0; j < c; j++) {
            q[t * c + j] = qkvg[t * ld + j];
            k[t * c + j] = qkvg[t * ld + c + j];
            v[t * c + j] = qkvg[t * ld + 2 * c + j];
        }
    Vec sin = ropeTable(n, dd, true), cos = ropeTable(n, dd, false);
    Vec ds10 = randomVec(heads * dd), ds20 = randomVec(heads * dd);
    LinearRef ref{b, n, c, heads, d, q, k, v, s1, s2, sin, cos};
    ref.run(dOut);
    for (int i = 0; i < heads * dd; i++) { ref.ds1[i] += ds10[i]; ref.ds2[i] += ds20[i]; }

    float *dqkv = dev(qkvg), *dq_ = dqkv, *dk_ = dqkv + c, *dv_ = dqkv + 2 * c;
    float *ds1 = dev(s1), *ds2 = dev(s2), *dsin = dev(sin), *dcos = dev(cos), *ddOut = dev(dOut);
    float *dm = dev(Vec(b * heads * dd)), *dS = dev(Vec((size_t)b * heads * dd * d)), *dout = dev(Vec(b * n * c));
    float *ddq = dev(Vec(b * n * c)), *ddk = dev(Vec(b * n * c)), *ddv = dev(Vec(b * n * c));
    float *dts = dev(Vec((size_t)b * heads * n * 4)), *ddS = dev(Vec((size_t)b * heads * dd * d));
    float *ddm = dev(Vec(b * heads * dd)), *ddSig = dev(Vec(b * heads * 2 * dd));
    float *dds1 = dev(ds10), *dds2 = dev(ds20);
    // CudaKernels' geometry: token sums in chunks (double partials, finished in chunk order), token rows 64 a block.
    int bh = b * heads, blocks = ceilDiv(n, 64);
    int tokenShared = ((d <= 64 ? 2 * d * (d + 1) : 0) + 2 * d + 4 * (9 * d)) * 4, sumShared = 3 * 32 * 64 * 4;
    int kvTiles = linearSumTiles(d, 1), dsumTiles = linearSumTiles(d, 2);
    int kvChunks = linearChunks(bh, n, kvTiles), dsumChunks = linearChunks(bh, n, dsumTiles);
    long long sCount = (long long)bh * dd * d, mCount = (long long)bh * dd;
    double *kvS = devDoubles(kvChunks * sCount), *kvM = devDoubles(kvChunks * mCount);
    double *dqSig = devDoubles(blocks * 2 * mCount), *dqM = devDoubles(blocks * mCount);
    double *dsumS = devDoubles(dsumChunks * sCount);
    dim3 rows(blocks, bh);
    LAUNCH(pf_linear_attention_kv, dim3(bh, kvChunks, kvTiles), 256, sumShared)(dk_, ld, dv_, ld, dsin, dcos, kvS, kvM, b, n, c, heads);
    LAUNCH(pf_linear_attention_finish, grid1d(sCount), 256, 0)(kvS, kvChunks, sCount, n, dS);
    LAUNCH(pf_linear_attention_finish, grid1d(mCount), 256, 0)(kvM, kvChunks, mCount, n, dm);
    LAUNCH(pf_linear_attention_out, rows, 128, tokenShared)(dq_, ld, ds1, ds2, dsin, dcos, dm, dS, dout, c, b, n, c, heads);
    LAUNCH(pf_linear_attention_dq, rows, 128, tokenShared)(dq_, ld, ds1, ds2, dsin, dcos, dm, dS, ddOut, c, ddq, c, dts, dqSig, dqM, b, n, c, heads);
    LAUNCH(pf_linear_attention_finish, grid1d(2 * mCount), 256, 0)(dqSig, blocks, 2 * mCount, 1, ddSig);
    LAUNCH(pf_linear_attention_finish, grid1d(mCount), 256, 0)(dqM, blocks, mCount, 1, ddm);
    LAUNCH(pf_linear_attention_dsum, dim3(bh, dsumChunks, dsumTiles), 256, sumShared)(dq_, ld, ds1, ds2, dsin, dcos, ddOut, c, dts, dsumS, b, n, c, heads);
    LAUNCH(pf_linear_attention_finish, grid1d(sCount), 256, 0)(dsumS, dsumChunks, sCount, 1, ddS);
    LAUNCH(pf_linear_attention_dsigma, grid1d(heads * dd), 256, 0)(ddSig, ds1, ds2, dds1, dds2, b, heads, d);
    LAUNCH(pf_linear_attention_dkv, rows, 128, tokenShared)(dk_, ld, dv_, ld, dsin, dcos, ddS, ddm, ddk, c, ddv, c, b, n, c, heads);
    CUDA_OK(cudaGetLastError());
    char name[96];
    std::snprintf(name, sizeof name, "linear attention out   (b%d n%d c%d h%d)", b, n, c, heads);
    expectClose(name, ref.out, host(dout, ref.out.size()), 1e-5, 1e-3);
    std::snprintf(name, sizeof name, "linear attention dq    (b%d n%d c%d h%d)", b, n, c, heads);
    expectClose(name, ref.dq, host(ddq, ref.dq.size()), 1e-5, 1e-3);
    std::snprintf(name, sizeof name, "linear attention dk    (b%d n%d c%d h%d)", b, n, c, heads);
    expectClose(name, ref.dk, host(ddk, ref.dk.size()), 1e-5, 1e-3);
    std::snprintf(name, sizeof name, "linear attention dv    (b%d n%d c%d h%d)", b, n, c, heads);
    expectClose(name, ref.dv, host(ddv, ref.dv.size()), 1e-5, 1e-3);
    std::snprintf(name, sizeof name, "linear attention ds1   (b%d n%d c%d h%d)", b, n, c, heads);
    expectClose(name, ref.ds1, host(dds1, ref.ds1.size()), 1e-5, 1e-3);
    std::snprintf(name, sizeof name, "linear attention ds2   (b%d n%d c%d h%d)", b, n, c, heads);
    expectClose(name, ref.ds2, host(dds2, ref.ds2.size()), 1e-5, 1e-3);
}

static void checkSoftmaxAttention(int b, int n, int c, int heads) {
    int d = c / heads, ld = 4 * c;
    Vec qkvo = randomVec((size_t)b * n * ld, -1.5f, 1.5f), dOut = randomVec(b * n * c);
    Vec q(b * n * c), k(b * n * c), v(b * n * c);
    for (size_t t = 0; t < (size_t)b * n; t++)
        for (int j = 0; j < c; j++) {
            q[t * c + j] = qkvo[t * ld + j];
            k[t * c + j] = qkvo[t * ld + c + j];
            v[t * c + j] = qkvo[t * ld + 2 * c + j];
        }
    Vec sin = ropeTable(n, d, true), cos = ropeTable(n, d, false);
    DVec out, dq, dk, dv;
    softmaxAttentionRef(b, n, c, heads, q, k, v, sin, cos, dOut, out, dq, dk, dv);
    float *dqkv = dev(qkvo), *dq_ = dqkv, *dk_ = dqkv + c, *dv_ = dqkv + 2 * c;
    float *dsin = dev(sin), *dcos = dev(cos), *ddOut = dev(dOut), *dout = dev(Vec(b * n * c));
    float *dlse = dev(Vec(b * heads * n)), *ddelta = dev(Vec(b * heads * n));
    float *ddq = dev(Vec(b * n * c)), *ddk = dev(Vec(b * n * c)), *ddv = dev(Vec(b * n * c));
    int shared = 2 * 64 * d * 4 + 2 * 64 * 4;
    dim3 grid(ceilDiv(n, 64), b * heads);
    if (d <= 32) {
        LAUNCH(pf_softmax_attention_forward_d32, grid, 64, shared)(dq_, ld, dk_, ld, dv_, ld, dsin, dcos, dout, c, dlse, b, n, c, heads);
        LAUNCH(pf_softmax_attention_backward_dq_d32, grid, 64, shared)(dq_, ld, dk_, ld, dv_, ld, dsin, dcos, dout, c, dlse, ddOut, c, ddq, c, ddelta, b, n, c, heads);
        LAUNCH(pf_softmax_attention_backward_dkv_d32, grid, 64, shared)(dq_, ld, dk_, ld, dv_, ld, dsin, dcos, dlse, ddelta, ddOut, c, ddk, c, ddv, c, b, n, c, heads);
    } else {
        LAUNCH(pf_softmax_attention_forward_d64, grid, 64, shared)(dq_, ld, dk_, ld, dv_, ld, dsin, dcos, dout, c, dlse, b, n, c, heads);
        LAUNCH(pf_softmax_attention_backward_dq_d64, grid, 64, shared)(dq_, ld, dk_, ld, dv_, ld, dsin, dcos, dout, c, dlse, ddOut, c, ddq, c, ddelta, b, n, c, heads);
        LAUNCH(pf_softmax_attention_backward_dkv_d64, grid, 64, shared)(dq_, ld, dk_, ld, dv_, ld, dsin, dcos, dlse, ddelta, ddOut, c, ddk, c, ddv, c, b, n, c, heads);
    }
    CUDA_OK(cudaGetLastError());
    char name[96];
    std::snprintf(name, sizeof name, "softmax attention out (b%d n%d c%d h%d)", b, n, c, heads);
    expectClose(name, out, host(dout, out.size()), 1e-5, 1e-3);
    std::snprintf(name, sizeof name, "softmax attention dq  (b%d n%d c%d h%d)", b, n, c, heads);
    expectClose(name, dq, host(ddq, dq.size()), 1e-5, 1e-3);
    std::snprintf(name, sizeof name, "softmax attention dk  (b%d n%d c%d h%d)", b, n, c, heads);
    expectClose(name, dk, host(ddk, dk.size()), 1e-5, 1e-3);
    std::snprintf(name, sizeof name, "softmax attention dv  (b%d n%d c%d h%d)", b, n, c, heads);
    expectClose(name, dv, host(ddv, dv.size()), 1e-5, 1e-3);
}


static void checkLayoutsAndPooling() {
    // Broadcast add / multiply: a (2, 3, 5, 6) with b (2, 1, 1, 6) → strides (6, 0, 0, 1).
    int d0 = 2, d1 = 3, d2 = 5, d3 = 6, n = d0 * d1 * d2 * d3;
    Vec a = randomVec(n), bv = randomVec(d0 * d3);
    float *da = dev(a), *db = dev(bv), *dout = dev(Vec(n));
    DVec add(n), mul(n);
    for (int i = 0; i < n; i++) {
        int i3 = i % d3, i0 = i / (d1 * d2 * d3);
        add[i] = a[i] + bv[i0 * d3 + i3];
        mul[i] = (double)a[i] * bv[i0 * d3 + i3];
    }
    LAUNCH(pf_broadcast_add, grid1d(n), 256, 0)(da, db, dout, d0, d1, d2, d3, d3, 0, 0, 1);
    expectClose("pf_broadcast_add", add, host(dout, n));
    LAUNCH(pf_broadcast_mul, grid1d(n), 256, 0)(da, db, da, d0, d1, d2, d3, d3, 0, 0, 1); // in place
    expectClose("pf_broadcast_mul (in place)", mul, host(da, n));

    // copy_strided: the middle C of (2, 7, 3C) rows into a contiguous (2, 7, C).
    int b = 2, t = 7, c = 9;
    Vec src = randomVec(b * t * 3 * c);
    float *ds = dev(src), *dd = dev(Vec(b * t * c));
    LAUNCH(pf_copy_strided, grid1d(b * t * c), 256, 0)(ds + c, dd, 1, b, t, c, 0, t * 3 * c, 3 * c, 1, 0, t * c, c, 1);
    DVec copy(b * t * c);
    for (int r = 0; r < b * t; r++) for (int j = 0; j < c; j++) copy[r * c + j] = src[r * 3 * c + c + j];
    expectClose("pf_copy_strided", copy, host(dd, copy.size()), 0, 0);

    // RoPE forward and its transpose over (2, 7, 12) with width-6 tables (two groups a token).
    int rc = 12, width = 6;
    Vec x = randomVec(b * t * rc), sin = ropeTable(t, width, true), cos = ropeTable(t, width, false);
    float *dx_ = dev(x), *dsin = dev(sin), *dcos = dev(cos), *dy = dev(Vec(b * t * rc));
    DVec fwd(b * t * rc), inv(b * t * rc), tmp(width);
    for (int p = 0; p < b; p++) for (int tok = 0; tok < t; tok++) for (int g = 0; g < rc; g += width) {
        size_t o = ((size_t)p * t + tok) * rc + g;
        for (int e = 0; e < width; e++) tmp[e] = x[o + e];
        rotate(tmp.data(), sin, cos, (size_t)tok * width, width, false, &fwd[o]);
        rotate(tmp.data(), sin, cos, (size_t)tok * width, width, true, &inv[o]);
    }
    LAUNCH(pf_rope, grid1d(b * t * rc / 2), 256, 0)(dx_, dy, dsin, dcos, b, t, rc, width);
    expectClose("pf_rope", fwd, host(dy, fwd.size()));
    LAUNCH(pf_rope_backward, grid1d(b * t * rc / 2), 256, 0)(dx_, dx_, dsin, dcos, b, t, rc, width); // in place
    expectClose("pf_rope_backward (in place)", inv, host(dx_, inv.size()));

    // Average pool and its backward over (2, 49, 300).
    int pn = 49, pc = 300;
    Vec px = randomVec(b * pn * pc), pdy = randomVec(b * pc);
    float *dpx = dev(px), *dpy = dev(Vec(b * pc)), *dpdy = dev(pdy), *dpdx = dev(Vec(b * pn * pc));
    LAUNCH(pf_avgpool, dim3(ceilDiv(pc, 256), b), 256, 0)(dpx, dpy, b, pn, pc);
    LAUNCH(pf_avgpool_backward, grid1d(b * pn * pc), 256, 0)(dpdy, dpdx, b, pn, pc);
    DVec pool(b * pc, 0), poolBack(b * pn * pc);
    for (int p = 0; p < b; p++) for (int tok = 0; tok < pn; tok++) for (int ch = 0; ch < pc; ch++) {
        pool[p * pc + ch] += px[((size_t)p * pn + tok) * pc + ch] / (double)pn;
        poolBack[((size_t)p * pn + tok) * pc + ch] = pdy[p * pc + ch] / (double)pn;
    }
    expectClose("pf_avgpool", pool, host(dpy, pool.size()));
    expectClose("pf_avgpool_backward", poolBack, host(dpdx, poolBack.size()));

    // Sum of squares in double partials, as CudaKernels launches it.
    int sn = 100003, parts = std::max(1, std::min(1024, ceilDiv(sn, 16 * 256)));
    Vec sx = randomVec(sn);
    float* dsx = dev(sx);
    double* dparts;
    CUDA_OK(cudaMalloc(&dparts, parts * sizeof(double)));
    LAUNCH(pf_sum_squares, parts, 256, 0)(dsx, dparts, sn);
    std::vector<double> got(parts);
    CUDA_OK(cudaDeviceSynchronize());
    CUDA_OK(cudaMemcpy(got.data(), dparts, parts * sizeof(double), cudaMemcpyDeviceToHost));
    double total = 0, ref = 0;
    for (double g : got) total += g;
    for (float v : sx) ref += (double)v * v;
    expectClose("pf_sum_squares", DVec{ref}, Vec{(float)total}, 1e-7, 1e-7);

    // Filter layouts: (O, I, kh, kw) → (O, kh, kw, I), and the gradient added back.
    int o = 8, in = 3, kh = 3, kw = 5, fn = o * in * kh * kw;
    Vec f = randomVec(fn), acc = randomVec(fn);
    float *df = dev(f), *dohwi = dev(Vec(fn)), *dacc = dev(acc);
    LAUNCH(pf_filter_oihw_to_ohwi, grid1d(fn), 256, 0)(df, dohwi, o, in, kh, kw);
    LAUNCH(pf_filter_ohwi_add_to_oihw, grid1d(fn), 256, 0)(dohwi, dacc, o, in, kh, kw);
    DVec ohwi(fn), back(fn);
    for (int co = 0; co < o; co++) for (int ci = 0; ci < in; ci++) for (int y = 0; y < kh; y++) for (int xx = 0; xx < kw; xx++) {
        size_t oihw = ((size_t)(co * in + ci) * kh + y) * kw + xx, ohwiIdx = ((size_t)(co * kh + y) * kw + xx) * in + ci;
        ohwi[ohwiIdx] = f[oihw];
        back[oihw] = (double)acc[oihw] + f[oihw];
    }
    expectClose("pf_filter_oihw_to_ohwi", ohwi, host(dohwi, fn), 0, 0);
    expectClose("pf_filter_ohwi_add_to_oihw", back, host(dacc, fn));
}

static void checkLossAndOptimizer() {
    int b = 5, k = 1000;
    Vec logits = randomVec(b * k, -8, 8), targets(b * k, 0.0001f);
    for (int r = 0; r < b; r++) targets[r * k + (r * 37) % k] = 0.9f;
    float *dl = dev(logits), *dt = dev(targets), *dg = dev(Vec(b * k));
    double* drow;
    CUDA_OK(cudaMalloc(&drow, b * sizeof(double)));
    LAUNCH(pf_cross_entropy, b, 256, 0)(dl, dt, dg, drow, b, k);
    std::vector<double> rowLoss(b);
    CUDA_OK(cudaMemcpy(rowLoss.data(), drow, b * sizeof(double), cudaMemcpyDeviceToHost));
    DVec lossRef(b), gref(b * k);
    for (int r = 0; r < b; r++) {
        double mx = -INFINITY, s = 0, ts = 0, loss = 0;
        for (int j = 0; j < k; j++) mx = std::max(mx, (double)logits[r * k + j]);
        for (int j = 0; j < k; j++) s += std::exp(logits[r * k + j] - mx);
        double lse = mx + std::log(s);
        for (int j = 0; j < k; j++) { loss += targets[r * k + j] * (lse - logits[r * k + j]); ts += targets[r * k + j]; }
        lossRef[r] = loss;
        for (int j = 0; j < k; j++) gref[r * k + j] = (std::exp(logits[r * k + j] - lse) * ts - targets[r * k + j]) / b;
    }
    expectClose("pf_cross_entropy rowLoss", lossRef, Vec(rowLoss.begin(), rowLoss.end()), 1e-7, 1e-7);
    expectClose("pf_cross_entropy dLogits", gref, host(dg, b * k));

    int n = 5003;
    Vec p = randomVec(n), g = randomVec(n), m = randomVec(n, -0.1f, 0.1f), v = randomVec(n, 0, 0.01f);
    float lr = 1e-3f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, wd = 0.05f;
    long step = 7;
    float decay = (float)(1 - (double)lr * wd), stepSize = (float)(lr / (1 - std::pow(beta1, step)));
    float c2 = (float)std::sqrt(1 - std::pow(beta2, step));
    float *dp = dev(p), *dgr = dev(g), *dm = dev(m), *dv = dev(v);
    LAUNCH(pf_adamw, grid1d(n), 256, 0)(dp, dgr, dm, dv, n, decay, stepSize, c2, beta1, beta2, eps);
    DVec pr(n);
    for (int i = 0; i < n; i++) {
        float pi = p[i] * decay, mi = m[i] * beta1 + g[i] * (1 - beta1), vi = v[i] * beta2 + g[i] * g[i] * (1 - beta2);
        pr[i] = pi - mi / (std::sqrt(vi) / c2 + eps) * stepSize;
    }
    expectClose("pf_adamw param", pr, host(dp, n), 1e-6, 1e-6);
}

int main() {
    int device = 0;
    cudaDeviceProp prop;
    CUDA_OK(cudaGetDeviceProperties(&prop, device));
    std::printf("kernel self-test on %s (sm_%d%d)\n", prop.name, prop.major, prop.minor);
    checkPointwise();
    checkNorms();
    for (int c : {7, 32, 64, 96}) checkColumnReductions(100000, c);
    checkBatchNormCloseRows();
    checkLayoutsAndPooling();
    checkDepthwise(2, 9, 11, 40, 5, 2);           // float4, 2 weight chunks
    checkDepthwise(2, 9, 11, 40, 5, 2, 4);        // 3 channel groups, the last one short
    checkDepthwise(2, 56, 56, 112, 3, 1);         // the model's first stage, float4, 7 chunks
    checkDepthwise(3, 13, 70, 7, 5, 2);           // scalar channels, 2 column segments a row
    checkDepthwise(2, 8, 9, 12, 7, 3);            // k = 7: the weight gradient one tap at a time
    checkDepthwise(1, 6, 5, 33, 3, 0);            // no padding, c not a multiple of 32 or 4
    checkLossAndOptimizer();
    checkLinearAttention(2, 37, 8, 2);     // d = 4
    checkLinearAttention(2, 300, 64, 2);   // d = 32, several token tiles
    checkLinearAttention(1, 70, 128, 2);   // d = 64
    checkLinearAttention(1, 3136, 64, 1);  // d = 64, 13 token chunks, 49 token blocks (b2 stage 1's tokens)
    checkLinearAttention(2, 150, 96, 1);   // d = 96 (b4/b5 stage 1), S read in place, padded column blocks
    checkLinearAttention(1, 300, 256, 2);  // d = 128, two token chunks
    checkSoftmaxAttention(2, 37, 8, 2);    // d = 4
    checkSoftmaxAttention(2, 150, 160, 5); // d = 32, several tiles, partial last tile
    checkSoftmaxAttention(1, 70, 128, 2);  // d = 64
    std::printf("%s: %d of %d checks passed\n", failures == 0 ? "PASS" : "FAIL", checks - failures, checks);
    return failures == 0 ? 0 : 1;
}
