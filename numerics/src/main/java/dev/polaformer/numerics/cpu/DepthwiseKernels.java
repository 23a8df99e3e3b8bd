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
        int stride = wd * c, ilo = Math.max(0, pad - oh), ihi = Math.min(k, h + pad - oh);
        // x index of tap (0, 0) of output pixel 0; taps outside the image are never read
        int src0 = xOff + ((n * h + oh - pad) * wd - pad) * c;
        int rowOut = yOff + (n * g.ho() + oh) * wo * c;
        int full = F.loopBound(c);
        // pixels ow whose kernel lies inside the row: pad ≤ ow ≤ wd + pad − k
        int inner = wd + pad - k + 1;
        int ow = 0;
        while (ow < wo) {
            int src = src0 + ow * c, dst = rowOut + ow * c;
            if (ow >= pad && ow + 3 < inner && ow + 3 < wo) {
                forwardFour(x, src, w, bias, bo, y, dst, c, k, stride, ilo, ihi, full);
                for (int p = 0; p < 4 && full < c; p++) {
                    forwardPixel(x, src + p * c, w, bias, bo, y, dst + p * c, c, k, stride, ilo, ihi, 0, k, full);
                }
                ow += 4;
            } else {
                // a border pixel: only the taps that fall inside the image
                forwardPixel(x, src, w, bias, bo, y, dst, c, k, stride, ilo, ihi, Math.max(0, pad - ow),
                        Math.min(k, wd + pad - ow), 0);
                ow++;
            }
        }
    }

    /**
     * Four neighbouring interior pixels, channels {@code [0, full)} (whole vectors, no masks): each weight vector
     * loaded serves four FMAs. Kept apart from the masked and border paths so that C1 can compile it too: a
     * method with many masked vector calls runs C1 out of virtual registers, and the method then never reaches
     * C2 (see {@code JitCompilationTest}). {@code src} is the x index of tap (0, 0) of the first pixel,
     * {@code stride} the floats between image rows, {@code [ilo, ihi)} the kernel rows inside the image.
     */
    private static void forwardFour(float[] x, int src, float[] w, float[] bias, int bo, float[] y, int dst, int c,
                                    int k, int stride, int ilo, int ihi, int full) {
        for (int c0 = 0; c0 < full; c0 += L) {
            FloatVector a0 = bias == null ? FloatVector.zero(F) : FloatVector.fromArray(F, bias, bo + c0);
            FloatVector a1 = a0, a2 = a0, a3 = a0;
            for (int i = ilo; i < ihi; i++) {
                int s = src + i * stride + c0, tap = i * k * c + c0;
                // a window sliding along the image row: each input vector is loaded once, not once per pixel
                // (k + 3 loads per kernel row instead of 4k; 0.42 → 0.32 ns per output at 56×56×112, k = 3)
                FloatVector x0 = FloatVector.fromArray(F, x, s), x1 = FloatVector.fromArray(F, x, s + c);
                FloatVector x2 = FloatVector.fromArray(F, x, s + 2 * c);
                for (int j = 0; j < k; j++, tap += c) {
                    FloatVector wv = FloatVector.fromArray(F, w, tap);
                    FloatVector x3 = FloatVector.fromArray(F, x, s + (j + 3) * c);
                    a0 = x0.fma(wv, a0);
                    a1 = x1.fma(wv, a1);
                    a2 = x2.fma(wv, a2);
                    a3 = x3.fma(wv, a3);
                    x0 = x1;
                    x1 = x2;
                    x2 = x3;
                }
            }
            a0.intoArray(y, dst + c0);
            a1.intoArray(y, dst + c + c0);
            a2.intoArray(y, dst + 2 * c + c0);
            a3.intoArray(y, dst + 3 * c + c0);
        }
    }

    /** One pixel, channels {@code [from, c)}, kernel columns {@code [jlo, jhi)} (masked: any channel count). */
    private static void forwardPixel(float[] x, int src, float[] w, float[] bias, int bo, float[] y, int dst, int c,
                                     int k, int stride, int ilo, int ihi, int jlo, int jhi, int from) {
        for (int c0 = from; c0 < c; c0 += L) {
            VectorMask<Float> m = F.indexInRange(c0, c);
            FloatVector acc = bias == null ? FloatVector.zero(F) : FloatVector.fromArray(F, bias, bo + c0, m);
            for (int i = ilo; i < ihi; i++) {
                int s = src + i * stride + c0, tap = i * k * c + c0;
                for (int j = jlo; j < jhi; j++) {
                    acc = FloatVector.fromArray(F, x, s + j * c, m).fma(FloatVector.fromArray(F, w, tap + j * c, m), acc);
                }
            }
            acc.intoArray(y, dst + c0, m);
        }
    }

    /** Input row {@code (n, ih)} of the input gradient: {@code dx = Σ_taps dy(shifted)·w}, overwritten. */
    static void inputGradientRow(ConvGeometry g, float[] dy, int dyOff, float[] w, float[] dx, int dxOff, int n,
                                 int ih) {
        int c = g.cin(), k = g.kh(), pad = g.padding(), ho = g.ho(), wo = g.wo(), wd = g.w();
        // taps i with oh = ih + pad − i inside [0, Ho)
        int stride = wo * c, ilo = Math.max(0, ih + pad - ho + 1), ihi = Math.min(k, ih + pad + 1);
        // dy index of tap (0, 0) of input pixel 0: output pixel (ih + pad, pad); tap (i, j) is i rows up, j left
        int src0 = dyOff + ((n * ho + ih + pad) * wo + pad) * c;
        int rowOut = dxOff + (n * g.h() + ih) * wd * c;
        int full = F.loopBound(c);
        // pixels iw all of whose taps read inside dy's row: k − 1 − pad ≤ iw < wo − pad
        int first = k - 1 - pad, end = wo - pad;
        int iw = 0;
        while (iw < wd) {
            int src = src0 + iw * c, dst = rowOut + iw * c;
            if (iw >= first && iw + 3 < end && iw + 3 < wd) {
                gradientFour(dy, src, w, dx, dst, c, k, stride, ilo, ihi, full);
                for (int p = 0; p < 4 && full < c; p++) {
                    gradientPixel(dy, src + p * c, w, dx, dst + p * c, c, k, stride, ilo, ihi, 0, k, full);
                }
                iw += 4;
            } else {
                gradientPixel(dy, src, w, dx, dst, c, k, stride, ilo, ihi, Math.max(0, iw + pad - wo + 1),
                        Math.min(k, iw + pad + 1), 0);
                iw++;
            }
        }
    }

    /** {@link #forwardFour} for the input gradient: the taps walk up and left through dy (the flipped filter). */
    private static void gradientFour(float[] dy, int src, float[] w, float[] dx, int dst, int c, int k, int stride,
                                     int ilo, int ihi, int full) {
        for (int c0 = 0; c0 < full; c0 += L) {
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
            for (int i = ilo; i < ihi; i++) {
                int s = src - i * stride + c0, tap = i * k * c + c0;
                for (int j = 0; j < k; j++, s -= c, tap += c) {
                    FloatVector wv = FloatVector.fromArray(F, w, tap);
                    a0 = FloatVector.fromArray(F, dy, s).fma(wv, a0);
                    a1 = FloatVector.fromArray(F, dy, s + c).fma(wv, a1);
                    a2 = FloatVector.fromArray(F, dy, s + 2 * c).fma(wv, a2);
                    a3 = FloatVector.fromArray(F, dy, s + 3 * c).fma(wv, a3);
                }
            }
            a0.intoArray(dx, dst + c0);
            a1.intoArray(dx, dst + c + c0);
            a2.intoArray(dx, dst + 2 * c + c0);
            a3.intoArray(dx, dst + 3 * c + c0);
        }
    }

    /** {@link #forwardPixel} for the input gradient: one pixel, channels {@code [from, c)}, taps {@code [jlo, jhi)}. */
    private static void gradientPixel(float[] dy, int src, float[] w, float[] dx, int dst, int c, int k, int stride,
                                      int ilo, int ihi, int jlo, int jhi, int from) {
        for (int c0 = from; c0 < c; c0 += L) {
            VectorMask<Float> m = F.indexInRange(c0, c);
            FloatVector acc = FloatVector.zero(F);
            for (int i = ilo; i < ihi; i++) {
                int s = src - i * stride + c0, tap = i * k * c + c0;
                for (int j = jlo; j < jhi; j++) {
                    acc = FloatVector.fromArray(F, dy, s - j * c, m).fma(FloatVector.fromArray(F, w, tap + j * c, m), acc);
                }
            }
            acc.intoArray(dx, dst + c0, m);
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
