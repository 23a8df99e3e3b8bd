// Depthwise convolution (groups = C, stride 1) of the PolaFormer++ CUDA backend on channels-last tensors:
// x (B, H, W, C), weight (C, 1, k, k) in PyTorch's layout, y (B, Ho, Wo, C) with Ho = H + 2·pad − k + 1.
// The maths is numerics/.../reference/DenseKernels.depthwiseConv2d(Backward).
// Forward and input gradient: one thread per output (input) element, channel fastest, so a warp reads 32
// neighbouring channels of one pixel (coalesced); sums of k² taps stay in float as on the CPU.
// Weight gradient: a long sum over B·Ho·Wo positions, in double, per (channel, tap).

#include "pf_common.cuh"

extern "C" __global__ void pf_depthwise_forward(const float* x, const float* weight, const float* bias, float* y,
                                                int b, int h, int w, int c, int k, int pad) {
    int ho = h + 2 * pad - k + 1, wo = w + 2 * pad - k + 1;
    long long total = (long long)b * ho * wo * c;
    PF_FOR_EACH(e, total) {
        int ch = (int)(e % c);
        long long r = e / c;
        int ow = (int)(r % wo); r /= wo;
        int oh = (int)(r % ho);
        long long n = r / ho;
        float s = bias ? bias[ch] : 0.0f;
        const float* wk = weight + (long long)ch * k * k;
        for (int i = 0; i < k; i++) {
            int ih = oh - pad + i;
            if (ih < 0 || ih >= h) continue;
            for (int j = 0; j < k; j++) {
                int iw = ow - pad + j;
                if (iw < 0 || iw >= w) continue;
                s += x[((n * h + ih) * w + iw) * c + ch] * wk[i * k + j];
            }
        }
        y[e] = s;
    }
}

// dx[n, ih, iw, ch] = Σ_{i,j} dy[n, ih + pad − i, iw + pad − j, ch]·w[ch, i, j] over valid outputs (overwritten).
extern "C" __global__ void pf_depthwise_backward_input(const float* dy, const float* weight, float* dx,
                                                       int b, int h, int w, int c, int k, int pad) {
    int ho = h + 2 * pad - k + 1, wo = w + 2 * pad - k + 1;
    long long total = (long long)b * h * w * c;
    PF_FOR_EACH(e, total) {
        int ch = (int)(e % c);
        long long r = e / c;
        int iw = (int)(r % w); r /= w;
        int ih = (int)(r % h);
        long long n = r / h;
        float s = 0.0f;
        const float* wk = weight + (long long)ch * k * k;
        for (int i = 0; i < k; i++) {
            int oh = ih + pad - i;
            if (oh < 0 || oh >= ho) continue;
            for (int j = 0; j < k; j++) {
                int ow = iw + pad - j;
                if (ow < 0 || ow >= wo) continue;
                s += dy[((n * ho + oh) * wo + ow) * c + ch] * wk[i * k + j];
            }
        }
        dx[e] = s;
    }
}

// dWeight[ch, 0, i, j] += Σ_{n, oh, ow} dy[n, oh, ow, ch]·x[n, oh − pad + i, ow − pad + j, ch], in two stages
// so that the long sum over B·Ho·Wo positions fills the GPU and stays deterministic:
//   stage 1, grid (ceil(c/32), k·k, chunks), block (32, 8): lane x owns channel blockIdx.x·32 + x of tap
//     blockIdx.y; the block's 8 row groups take the positions of chunk blockIdx.z round-robin, in double, and
//     their sum (added in group order) goes to partial[(chunk·k·k + tap)·c + ch];
//   stage 2, one thread per (tap, channel): adds the chunks' partials in chunk order into dWeight.
extern "C" __global__ void pf_depthwise_backward_weight(const float* x, const float* dy, double* partial,
                                                        int b, int h, int w, int c, int k, int pad, int chunks) {
    __shared__ double part[PF_ROW_GROUPS][32];
    int ho = h + 2 * pad - k + 1, wo = w + 2 * pad - k + 1;
    int ch = blockIdx.x * 32 + threadIdx.x, tap = blockIdx.y, ti = tap / k, tj = tap % k;
    bool active = ch < c;
    long long positions = (long long)b * ho * wo;
    long long per = (positions + chunks - 1) / chunks;
    long long first = blockIdx.z * per, end = min(positions, first + per);
    double s = 0;
    if (active) {
        for (long long p = first + threadIdx.y; p < end; p += PF_ROW_GROUPS) {
            int ow = (int)(p % wo);
            long long r = p / wo;
            int oh = (int)(r % ho);
            long long n = r / ho;
            int ih = oh - pad + ti, iw = ow - pad + tj;
            if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
            s += (double)dy[p * c + ch] * x[((n * h + ih) * w + iw) * c + ch];
        }
    }
    part[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (active && threadIdx.y == 0) {
        double total = 0;
        for (int g = 0; g < PF_ROW_GROUPS; g++) total += part[g][threadIdx.x];
        partial[((long long)blockIdx.z * k * k + tap) * c + ch] = total;
    }
}

extern "C" __global__ void pf_depthwise_backward_weight_finish(const double* partial, float* dWeight, int c,
                                                               int taps, int chunks) {
    PF_FOR_EACH(e, (long long)taps * c) {
        int tap = (int)(e / c), ch = (int)(e % c);
        double total = 0;
        for (int z = 0; z < chunks; z++) total += partial[(long long)z * taps * c + e];
        long long wi = (long long)ch * taps + tap;
        dWeight[wi] = (float)((double)dWeight[wi] + total);
    }
}
