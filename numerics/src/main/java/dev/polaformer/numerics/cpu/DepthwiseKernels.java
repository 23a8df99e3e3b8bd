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
 * <ul>
 *   <li>The forward and the input gradient are gathers (the gradient is the same sum with the filter flipped),
 *       parallel over rows of the image they write. Away from the borders four neighbouring pixels are computed
 *       together, so each weight vector loaded serves four FMAs (5 loads per 4 FMAs instead of 8).</li>
 *   <li>The weight gradient {@code Σ_pixels dy·x(shifted)} is a long sum per (tap, channel). It is cut into
 *       row segments of at most {@link #SEGMENT} pixels: within a segment each tap's sum runs in registers
 *       (float, ≤ 64 terms), and {@link RowReduction} adds the segments' results into double.</li>
 * </ul>
 */
final class DepthwiseKernels {
    private DepthwiseKernels() {}

    /** Output pixels per weight-gradient segment: the float sums hold at most this many terms. */
    static final int SEGMENT = RowReduction.BLOCK;

    /** Repacks {@code weight (C,1,k,k)} into tap-major {@code packed[(i·k + j)·C + c]}. */
    static void pack(float[] weight, int wo, int c, int k, float[] packed) {
        for (int ch = 0; ch < c; ch++) {
            for (int t = 0; t < k * k; t++) packed[t * c + ch] = weight[wo + ch * k * k + t];
        }
    }

    /** Output row {@code (n, oh)}: {@code y = bias + Σ_taps x·w}. {@code bias} may be null. */
    static void forwardRow(ConvGeometry g, float[] x, int xOff, float[] w, float[] bias, int bo, float[] y, int yOff,
                           int n, int oh) {
        int c = g.cin(), k = g.kh(), pad = g.padding(), h = g.h(), wd = g.w(), wo = g.wo();
        int ilo = Math.max(0, pad - oh), ihi = Math.min(k, h + pad - oh);
        int rowOut = yOff + (n * g.ho() + oh) * wo * c;
        // pixels ow whose kernel lies inside the row: pad ≤ ow ≤ wd + pad − k
        int inner = wd + pad - k + 1;
        int ow = 0;
        while (ow < wo) {
            if (ow >= pad && ow + 3 < inner && ow + 3 < wo) {
                for (int c0 = 0; c0 < c; c0 += L) {
                    VectorMask<Float> m = F.indexInRange(c0, c);
                    FloatVector a0 = bias == null ? FloatVector.zero(F) : FloatVector.fromArray(F, bias, bo + c0, m);
                    FloatVector a1 = a0, a2 = a0, a3 = a0;
                    for (int i = ilo; i < ihi; i++) {
                        int src = xOff + ((n * h + oh - pad + i) * wd + ow - pad) * c + c0, tap = i * k * c + c0;
                        for (int j = 0; j < k; j++, src += c, tap += c) {
                            FloatVector wv = FloatVector.fromArray(F, w, tap, m);
                            a0 = FloatVector.fromArray(F, x, src, m).fma(wv, a0);
                            a1 = FloatVector.fromArray(F, x, src + c, m).fma(wv, a1);
                            a2 = FloatVector.fromArray(F, x, src + 2 * c, m).fma(wv, a2);
                            a3 = FloatVector.fromArray(F, x, src + 3 * c, m).fma(wv, a3);
                        }
                    }
                    int dst = rowOut + ow * c + c0;
                    a0.intoArray(y, dst, m);
                    a1.intoArray(y, dst + c, m);
                    a2.intoArray(y, dst + 2 * c, m);
                    a3.intoArray(y, dst + 3 * c, m);
                }
                ow += 4;
                continue;
            }
            // a border pixel: only the taps that fall inside the image
            int jlo = Math.max(0, pad - ow), jhi = Math.min(k, wd + pad - ow);
            for (int c0 = 0; c0 < c; c0 += L) {
                VectorMask<Float> m = F.indexInRange(c0, c);
                FloatVector acc = bias == null ? FloatVector.zero(F) : FloatVector.fromArray(F, bias, bo + c0, m);
                for (int i = ilo; i < ihi; i++) {
                    int src = xOff + ((n * h + oh - pad + i) * wd + ow - pad) * c + c0, tap = i * k * c + c0;
                    for (int j = jlo; j < jhi; j++) {
                        acc = FloatVector.fromArray(F, x, src + j * c, m).fma(FloatVector.fromArray(F, w, tap + j * c, m), acc);
                    }
                }
                acc.intoArray(y, rowOut + ow * c + c0, m);
            }
            ow++;
        }
    }

    /** Input row {@code (n, ih)} of the input gradient: {@code dx = Σ_taps dy(shifted)·w}, overwritten. */
    static void inputGradientRow(ConvGeometry g, float[] dy, int dyOff, float[] w, float[] dx, int dxOff, int n,
                                 int ih) {
        int c = g.cin(), k = g.kh(), pad = g.padding(), ho = g.ho(), wo = g.wo(), wd = g.w();
        // taps i with oh = ih + pad − i inside [0, Ho)
        int ilo = Math.max(0, ih + pad - ho + 1), ihi = Math.min(k, ih + pad + 1);
        int rowOut = dxOff + (n * g.h() + ih) * wd * c;
        // pixels iw all of whose taps read inside dy's row: k − 1 − pad ≤ iw < wo − pad
        int first = k - 1 - pad, end = wo - pad;
        int iw = 0;
        while (iw < wd) {
            if (iw >= first && iw + 3 < end && iw + 3 < wd) {
                for (int c0 = 0; c0 < c; c0 += L) {
                    VectorMask<Float> m = F.indexInRange(c0, c);
                    FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
                    for (int i = ilo; i < ihi; i++) {
                        int src = dyOff + ((n * ho + ih + pad - i) * wo + iw + pad) * c + c0, tap = i * k * c + c0;
                        for (int j = 0; j < k; j++, src -= c, tap += c) {
                            FloatVector wv = FloatVector.fromArray(F, w, tap, m);
                            a0 = FloatVector.fromArray(F, dy, src, m).fma(wv, a0);
                            a1 = FloatVector.fromArray(F, dy, src + c, m).fma(wv, a1);
                            a2 = FloatVector.fromArray(F, dy, src + 2 * c, m).fma(wv, a2);
                            a3 = FloatVector.fromArray(F, dy, src + 3 * c, m).fma(wv, a3);
                        }
                    }
                    int dst = rowOut + iw * c + c0;
                    a0.intoArray(dx, dst, m);
                    a1.intoArray(dx, dst + c, m);
                    a2.intoArray(dx, dst + 2 * c, m);
                    a3.intoArray(dx, dst + 3 * c, m);
                }
                iw += 4;
                continue;
            }
            int jlo = Math.max(0, iw + pad - wo + 1), jhi = Math.min(k, iw + pad + 1);
            for (int c0 = 0; c0 < c; c0 += L) {
                VectorMask<Float> m = F.indexInRange(c0, c);
                FloatVector acc = FloatVector.zero(F);
                for (int i = ilo; i < ihi; i++) {
                    int src = dyOff + ((n * ho + ih + pad - i) * wo + iw + pad) * c + c0, tap = i * k * c + c0;
                    for (int j = jlo; j < jhi; j++) {
                        acc = FloatVector.fromArray(F, dy, src - j * c, m).fma(FloatVector.fromArray(F, w, tap + j * c, m), acc);
                    }
                }
                acc.intoArray(dx, rowOut + iw * c + c0, m);
            }
            iw++;
        }
    }

    /** Row segments of the weight gradient: each output row is cut into pieces of at most {@link #SEGMENT}. */
    static int segmentsPerRow(ConvGeometry g) {
        return (g.wo() + SEGMENT - 1) / SEGMENT;
    }

    /**
     * Segment {@code r} (of {@code B·Ho·segmentsPerRow}) of the weight gradient:
     * {@code block[(i·k + j)·C + c] += Σ_{ow in segment} dy·x(shifted)}, each sum in registers.
     */
    static void weightGradientSegment(ConvGeometry g, float[] x, int xOff, float[] dy, int dyOff, int r,
                                      float[] block) {
        int c = g.cin(), k = g.kh(), pad = g.padding(), h = g.h(), wd = g.w(), ho = g.ho(), wo = g.wo();
        int segs = segmentsPerRow(g), seg = r % segs, t = r / segs, oh = t % ho, n = t / ho;
        int s0 = seg * SEGMENT, s1 = Math.min(wo, s0 + SEGMENT);
        int ilo = Math.max(0, pad - oh), ihi = Math.min(k, h + pad - oh);
        int dyRow = dyOff + (n * ho + oh) * wo * c;
        for (int c0 = 0; c0 < c; c0 += L) {
            VectorMask<Float> m = F.indexInRange(c0, c);
            for (int i = ilo; i < ihi; i++) {
                int xRow = xOff + (n * h + oh - pad + i) * wd * c;
                for (int j = 0; j < k; j++) {
                    // output pixels whose tap (i, j) reads inside the row: 0 ≤ ow − pad + j < wd
                    int lo = Math.max(s0, pad - j), hi = Math.min(s1, wd + pad - j);
                    FloatVector a0 = FloatVector.zero(F), a1 = a0;
                    int ow = lo;
                    for (; ow + 1 < hi; ow += 2) {
                        int xs = xRow + (ow - pad + j) * c + c0, ds = dyRow + ow * c + c0;
                        a0 = FloatVector.fromArray(F, dy, ds, m).fma(FloatVector.fromArray(F, x, xs, m), a0);
                        a1 = FloatVector.fromArray(F, dy, ds + c, m).fma(FloatVector.fromArray(F, x, xs + c, m), a1);
                    }
                    if (ow < hi) {
                        a0 = FloatVector.fromArray(F, dy, dyRow + ow * c + c0, m)
                                .fma(FloatVector.fromArray(F, x, xRow + (ow - pad + j) * c + c0, m), a0);
                    }
                    int tap = (i * k + j) * c + c0;
                    a0.add(a1).add(FloatVector.fromArray(F, block, tap, m)).intoArray(block, tap, m);
                }
            }
        }
    }
}
