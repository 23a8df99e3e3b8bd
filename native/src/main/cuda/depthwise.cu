// Depthwise convolution (groups = C, stride 1) of the PolaFormer++ CUDA backend on channels-last tensors:
// x (B, H, W, C), weight (C, 1, k, k) in PyTorch's layout, y (B, Ho, Wo, C) with Ho = H + 2·pad − k + 1.
// The maths is numerics/.../reference/DenseKernels.depthwiseConv2d(Backward).
// Forward and input gradient: one kernel body (the input gradient is the same sum with the offsets negated);
// sums of k² taps stay in float, in (i, j) order, as on the CPU.
// Weight gradient: a long sum over B·Ho·Wo positions, in double, per (channel, tap).

#include "pf_common.cuh"

// Output columns per work item of the weight gradient (CudaKernels.DEPTHWISE_SEGMENT).
#define PF_DW_SEGMENT 64

// V neighbouring floats, aligned so that a load or store of one is a single (vector) memory access.
template <int V>
struct alignas(4 * V) pf_floats {
    float v[V];
};

// ---------------------------------------------------------------- forward and input gradient
// out[n, oh, ow, ch] = bias[ch] + Σ_{i, j in order} in[n, oh + dir·(i − pad), ow + dir·(j − pad), ch]·w[ch, i, j]
// over the taps inside the input: dir = +1 is the forward pass (in = x, out = y), dir = −1 the input gradient
// (in = dy, out = dx, no bias).
// Launch: blocks of 256 threads, grid (any, groups), dynamic shared memory G·V·k² floats, where V (1 or 4) is
// `vec`, the channels a thread handles (4 needs c % 4 == 0 and 16-byte aligned in/out), and the c/V channel
// vectors are split into gridDim.y groups of G = ceil((c/V) / gridDim.y). Block (x, y) copies group y's weights
// into shared memory tap-major, so that neighbouring threads read neighbouring weights (the (C, 1, k, k) layout
// puts them k² floats apart); its threads are slots of G vectors, one output pixel each, and the blocks walk
// the pixels with a grid stride. The pixel is stepped as (n, oh, ow) counters, without division per element.
template <int V>
__device__ void pf_depthwise_conv(const float* __restrict__ in, const float* __restrict__ weight,
                                  const float* __restrict__ bias, float* __restrict__ out, int b, int inH, int inW,
                                  int outH, int outW, int c, int k, int pad, int dir) {
    float* ws = pf_dynamic_shared;
    int vectors = c / V, group = (vectors + gridDim.y - 1) / gridDim.y, first = blockIdx.y * group;
    int width = min(group, vectors - first) * V, taps = k * k;  // channels of this block, ws's row length
    if (width <= 0 || outH <= 0 || outW <= 0) return;  // the whole block, before any barrier
    const float* wg = weight + (long long)first * V * taps;  // the group's weights, read in order
    for (int e = threadIdx.x; e < taps * width; e += blockDim.x) {
        int cl = e / taps, t = e - cl * taps;
        ws[t * width + cl] = wg[e];
    }
    __syncthreads();
    int lanes = width / V, slots = blockDim.x / lanes, slot = threadIdx.x / lanes, cl = (threadIdx.x - slot * lanes) * V;
    if (slot >= slots) return;  // the threads left over when lanes does not divide the block
    int ch = first * V + cl;
    float b0[V];
#pragma unroll
    for (int v = 0; v < V; v++) b0[v] = bias ? bias[ch + v] : 0.0f;

    // Pixel p = (n·outH + oh)·outW + ow, from blockIdx.x·slots + slot in steps of gridDim.x·slots; both fit in
    // int (the grid is capped), and so does each counter.
    int p = blockIdx.x * slots + slot, step = gridDim.x * slots;
    int ow = p % outW, rows = p / outW, oh = rows % outH, n = rows / outH;
    int stepW = step % outW, stepRows = step / outW, stepH = stepRows % outH, stepN = stepRows / outH;
    long long rowStride = (long long)inW * c;
    while (n < b) {
        float s[V];
        for (int v = 0; v < V; v++) s[v] = b0[v];
        long long center = (((long long)n * inH + oh) * inW + ow) * c + ch;  // in's index at (oh, ow)
        const float* wt = ws + cl;
        for (int i = 0; i < k; i++, wt += k * width) {
            int di = dir * (i - pad), ih = oh + di;
            if (ih < 0 || ih >= inH) continue;
            long long row = center + di * rowStride;
            for (int j = 0; j < k; j++) {
                int dj = dir * (j - pad), iw = ow + dj;
                if (iw < 0 || iw >= inW) continue;
                pf_floats<V> xv = *reinterpret_cast<const pf_floats<V>*>(in + row + (long long)dj * c);
                pf_floats<V> wv = *reinterpret_cast<const pf_floats<V>*>(wt + j * width);
                for (int v = 0; v < V; v++) s[v] += xv.v[v] * wv.v[v];
            }
        }
        pf_floats<V> o;
        for (int v = 0; v < V; v++) o.v[v] = s[v];
        *reinterpret_cast<pf_floats<V>*>(out + (((long long)n * outH + oh) * outW + ow) * c + ch) = o;
        ow += stepW;
        oh += stepH;
        n += stepN;
        if (ow >= outW) ow -= outW, oh++;
        if (oh >= outH) oh -= outH, n++;
    }
}

__device__ __forceinline__ void pf_depthwise_conv_any(const float* in, const float* weight, const float* bias,
                                                      float* out, int b, int inH, int inW, int outH, int outW, int c,
                                                      int k, int pad, int dir, int vec) {
    if (vec == 4) pf_depthwise_conv<4>(in, weight, bias, out, b, inH, inW, outH, outW, c, k, pad, dir);
    else pf_depthwise_conv<1>(in, weight, bias, out, b, inH, inW, outH, outW, c, k, pad, dir);
}

extern "C" __global__ void pf_depthwise_forward(const float* x, const float* weight, const float* bias, float* y,
                                                int b, int h, int w, int c, int k, int pad, int vec) {
    pf_depthwise_conv_any(x, weight, bias, y, b, h, w, h + 2 * pad - k + 1, w + 2 * pad - k + 1, c, k, pad, 1, vec);
}

// dx[n, ih, iw, ch] = Σ_{i,j} dy[n, ih + pad − i, iw + pad − j, ch]·w[ch, i, j] over valid outputs (overwritten).
extern "C" __global__ void pf_depthwise_backward_input(const float* dy, const float* weight, float* dx,
                                                       int b, int h, int w, int c, int k, int pad, int vec) {
    pf_depthwise_conv_any(dy, weight, nullptr, dx, b, h + 2 * pad - k + 1, w + 2 * pad - k + 1, h, w, c, k, pad, -1,
                          vec);
}

// ---------------------------------------------------------------- weight gradient
// dWeight[ch, 0, i, j] += Σ_{n, oh, ow} dy[n, oh, ow, ch]·x[n, oh − pad + i, ow − pad + j, ch], in two stages
// so that the long sum over B·Ho·Wo positions fills the GPU and stays deterministic:
//   stage 1, grid (ceil(c/32), chunks), block (32, PF_ROW_GROUPS): lane x owns channel blockIdx.x·32 + x. The
//     work items are (n, oh, segment of PF_DW_SEGMENT output columns); chunk blockIdx.y takes ceil(items/chunks)
//     of them and its row groups take those round-robin. Each thread sums ALL taps at once in double, walking
//     its segment's columns with a k×k window of x in registers (k new floats a column, so x is read about once
//     instead of k² times); the groups' sums, added in group order, go to partial[(chunk·k·k + tap)·c + ch].
//     k = 3 and 5 (the model's) have their own window sizes; any other k goes one tap at a time (window 1).
//   stage 2, one thread per (tap, channel): adds the chunks' partials in chunk order into dWeight.

// The group's sums of K×K taps, the window's (0, 0) at tap (i0, j0) of the k×k kernel, stored to partial.
template <int K>
__device__ void pf_depthwise_weight_taps(const float* __restrict__ x, const float* __restrict__ dy,
                                         double* partial, double (*part)[PF_ROW_GROUPS][32], int h, int w, int c,
                                         int k, int ho, int wo, int i0, int j0, int pad, long long first,
                                         long long end, int segments) {
    int lane = threadIdx.x, group = threadIdx.y, ch = blockIdx.x * 32 + lane;
    bool active = ch < c;
    double acc[K * K];
#pragma unroll
    for (int t = 0; t < K * K; t++) acc[t] = 0;
    for (long long item = first + group; active && item < end; item += PF_ROW_GROUPS) {
        long long row = item / segments, n = row / ho;  // per item, not per element
        int oh = (int)(row - n * ho), ow0 = (int)(item - row * segments) * PF_DW_SEGMENT;
        int ow1 = min(wo, ow0 + PF_DW_SEGMENT), iw0 = ow0 - pad + j0;  // iw0: input column of window column 0
        const float* g = dy + (row * wo + ow0) * c + ch;
        const float* xr[K];  // x at (ih, column 0) of the window's rows; nullptr outside the image
        for (int ti = 0; ti < K; ti++) {
            int ih = oh - pad + i0 + ti;
            xr[ti] = ih >= 0 && ih < h ? x + ((n * h + ih) * w) * c + ch : nullptr;
        }
        // win[ti][tj] = x[n, ih(ti), ow − pad + j0 + tj, ch] at the current ow, zero outside the image: a zero
        // adds nothing to the double sums, so the taps need no bounds tests in the inner loop.
        float win[K][K];
#pragma unroll
        for (int ti = 0; ti < K; ti++)
#pragma unroll
            for (int tj = 1; tj < K; tj++) {
                int iw = iw0 + tj - 1;
                win[ti][tj] = xr[ti] && iw >= 0 && iw < w ? xr[ti][(long long)iw * c] : 0.0f;
            }
        for (int ow = ow0, iw = iw0 + K - 1; ow < ow1; ow++, iw++, g += c) {
            bool inside = iw >= 0 && iw < w;
#pragma unroll
            for (int ti = 0; ti < K; ti++) {
#pragma unroll
                for (int tj = 0; tj + 1 < K; tj++) win[ti][tj] = win[ti][tj + 1];
                win[ti][K - 1] = xr[ti] && inside ? xr[ti][(long long)iw * c] : 0.0f;
            }
            double gv = *g;
#pragma unroll
            for (int ti = 0; ti < K; ti++)
#pragma unroll
                for (int tj = 0; tj < K; tj++) acc[ti * K + tj] += gv * win[ti][tj];
        }
    }
    // Up to PF_ROW_GROUPS taps per round through shared memory: group r adds up tap (round + r) of its lane.
#pragma unroll
    for (int round = 0; round < K * K; round += PF_ROW_GROUPS) {
#pragma unroll
        for (int t = 0; t < K * K; t++)
            if (t >= round && t < round + PF_ROW_GROUPS) part[t - round][group][lane] = acc[t];
        __syncthreads();
        int t = round + group;
        if (active && t < K * K) {
            double total = 0;
            for (int r = 0; r < PF_ROW_GROUPS; r++) total += part[group][r][lane];
            int tap = (i0 + t / K) * k + j0 + t % K;
            partial[((long long)blockIdx.y * k * k + tap) * c + ch] = total;
        }
        __syncthreads();
    }
}

extern "C" __global__ void __launch_bounds__(32 * PF_ROW_GROUPS)
pf_depthwise_backward_weight(const float* x, const float* dy, double* partial, int b, int h, int w, int c, int k,
                             int pad) {
    __shared__ double part[PF_ROW_GROUPS][PF_ROW_GROUPS][32];
    int ho = h + 2 * pad - k + 1, wo = w + 2 * pad - k + 1, segments = (wo + PF_DW_SEGMENT - 1) / PF_DW_SEGMENT;
    long long items = (long long)b * ho * segments, per = (items + gridDim.y - 1) / gridDim.y;
    long long first = blockIdx.y * per, end = first + per < items ? first + per : items;
    if (k == 3) {
        pf_depthwise_weight_taps<3>(x, dy, partial, part, h, w, c, k, ho, wo, 0, 0, pad, first, end, segments);
    } else if (k == 5) {
        pf_depthwise_weight_taps<5>(x, dy, partial, part, h, w, c, k, ho, wo, 0, 0, pad, first, end, segments);
    } else {
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++)
                pf_depthwise_weight_taps<1>(x, dy, partial, part, h, w, c, k, ho, wo, i, j, pad, first, end, segments);
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
