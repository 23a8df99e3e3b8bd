// The AdamW update of the PolaFormer++ CUDA backend, the same arithmetic as numerics/.../cpu/CpuOptimizer:
// PyTorch computes the step scalars in double and the tensor arithmetic in float, so CudaKernels.adamW
// computes decay = 1 − lr·wd, stepSize = lr/(1 − β1^step) and c2 = sqrt(1 − β2^step) on the host and this
// kernel does the float part. 1-D launch: blocks of 256, grid-stride loop.

#include "pf_common.cuh"

extern "C" __global__ void pf_adamw(float* p, const float* g, float* m, float* v, int n, float decay, float stepSize,
                                    float c2, float beta1, float beta2, float eps) {
    float b1c = 1.0f - beta1, b2c = 1.0f - beta2;
    PF_FOR_EACH(i, n) {
        float gi = g[i];
        float pi = p[i] * decay;
        float mi = m[i] * beta1 + gi * b1c;
        float vi = v[i] * beta2 + gi * gi * b2c;
        p[i] = pi - mi / (sqrtf(vi) / c2 + eps) * stepSize;
        m[i] = mi;
        v[i] = vi;
    }
}
