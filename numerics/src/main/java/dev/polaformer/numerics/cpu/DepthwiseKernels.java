package dev.polaformer.numerics.cpu;

import dev.polaformer.numerics.ConvGeometry;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;

import static dev.polaformer.numerics.cpu.Simd.F;
import static dev.polaformer.numerics.cpu.Simd.L;

/**
 * Depthwise k×k convolution (stride 1) on channels-last maps: every channel has its own filter, so each output
 * pixel is {@code k²} vector FMAs along the contiguous channels. The filter is repacked tap-major,
 * {@code w[(i·k + j)·C + c]}, so a tap's weights for a run of channels are one vector load.
 *
 * <p>The forward and the input gradient are both gathers (the gradient is the same sum with the filter
 * flipped), parallel over rows of the image they write. The weight gradient is a long sum over all output
 * pixels per (tap, channel), done with {@link RowReduction} one pixel per row.
 */
final class DepthwiseKernels {
    private DepthwiseKernels() {}

    /** Repacks {@code weight (C,1,k,k)} into tap-major {@code packed[(i·k + j)·C + c]}. */
    static void pack(float[] weight, int wo, int c, int k, float[] packed) {
        for (int ch = 0; ch < c; ch++) {
            for (int t = 0; t < k * k; t++) packed[t * c + ch] = weight[wo + ch * k * k + t];
        }
    }

    /** Output row {@code (n, oh)}: {@code y = bias + Σ_taps x·w}. {@code bias} may be null. */
    static void forwardRow(ConvGeometry g, float[] x, int xOff, float[] w, float[] bias, int bo, float[] y, int yOff,
                           int n, int oh) {
        int c = g.cin(), k = g.kh(), pad = g.padding(), h = g.h(), wd = g.w();
        int ilo = Math.max(0, pad - oh), ihi = Math.min(k, h + pad - oh);
        for (int ow = 0; ow < g.wo(); ow++) {
            int jlo = Math.max(0, pad - ow), jhi = Math.min(k, wd + pad - ow);
            int dst = yOff + ((n * g.ho() + oh) * g.wo() + ow) * c;
            for (int c0 = 0; c0 < c; c0 += L) {
                VectorMask<Float> m = F.indexInRange(c0, c);
                FloatVector acc = bias == null ? FloatVector.zero(F) : FloatVector.fromArray(F, bias, bo + c0, m);
                for (int i = ilo; i < ihi; i++) {
                    int src = xOff + ((n * h + oh - pad + i) * wd + ow - pad) * c + c0;
                    int tap = i * k * c + c0;
                    for (int j = jlo; j < jhi; j++) {
                        acc = FloatVector.fromArray(F, x, src + j * c, m)
                                .fma(FloatVector.fromArray(F, w, tap + j * c, m), acc);
                    }
                }
                acc.intoArray(y, dst + c0, m);
            }
        }
    }

    /** Input row {@code (n, ih)} of the input gradient: {@code dx = Σ_taps dy(shifted)·w}, overwritten. */
    static void inputGradientRow(ConvGeometry g, float[] dy, int dyOff, float[] w, float[] dx, int dxOff, int n,
                                 int ih) {
        int c = g.cin(), k = g.kh(), pad = g.padding(), ho = g.ho(), wo = g.wo();
        // taps i with oh = ih + pad − i inside [0, Ho)
        int ilo = Math.max(0, ih + pad - ho + 1), ihi = Math.min(k, ih + pad + 1);
        for (int iw = 0; iw < g.w(); iw++) {
            int jlo = Math.max(0, iw + pad - wo + 1), jhi = Math.min(k, iw + pad + 1);
            int dst = dxOff + ((n * g.h() + ih) * g.w() + iw) * c;
            for (int c0 = 0; c0 < c; c0 += L) {
                VectorMask<Float> m = F.indexInRange(c0, c);
                FloatVector acc = FloatVector.zero(F);
                for (int i = ilo; i < ihi; i++) {
                    int src = dyOff + ((n * ho + ih + pad - i) * wo + iw + pad) * c + c0;
                    int tap = i * k * c + c0;
                    for (int j = jlo; j < jhi; j++) {
                        acc = FloatVector.fromArray(F, dy, src - j * c, m)
                                .fma(FloatVector.fromArray(F, w, tap + j * c, m), acc);
                    }
                }
                acc.intoArray(dx, dst + c0, m);
            }
        }
    }

    /** Output pixel {@code p}'s share of the weight gradient: {@code block[(i·k+j)·C + c] += dy·x(shifted)}. */
    static void weightGradientPixel(ConvGeometry g, float[] x, int xOff, float[] dy, int dyOff, int p, float[] block) {
        int c = g.cin(), k = g.kh(), pad = g.padding(), h = g.h(), wd = g.w();
        int ow = p % g.wo(), t = p / g.wo(), oh = t % g.ho(), n = t / g.ho();
        int ilo = Math.max(0, pad - oh), ihi = Math.min(k, h + pad - oh);
        int jlo = Math.max(0, pad - ow), jhi = Math.min(k, wd + pad - ow);
        int gy = dyOff + p * c;
        for (int c0 = 0; c0 < c; c0 += L) {
            VectorMask<Float> m = F.indexInRange(c0, c);
            FloatVector d = FloatVector.fromArray(F, dy, gy + c0, m);
            for (int i = ilo; i < ihi; i++) {
                int src = xOff + ((n * h + oh - pad + i) * wd + ow - pad) * c + c0;
                int tap = i * k * c + c0;
                for (int j = jlo; j < jhi; j++) {
                    d.fma(FloatVector.fromArray(F, x, src + j * c, m), FloatVector.fromArray(F, block, tap + j * c, m))
                            .intoArray(block, tap + j * c, m);
                }
            }
        }
    }
}
