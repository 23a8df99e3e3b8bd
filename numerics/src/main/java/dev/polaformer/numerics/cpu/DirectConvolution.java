package dev.polaformer.numerics.cpu;

import dev.polaformer.numerics.ConvGeometry;
import jdk.incubator.vector.FloatVector;

import static dev.polaformer.numerics.cpu.Simd.F;
import static dev.polaformer.numerics.cpu.Simd.L;

/**
 * Dense convolutions with few output channels (the stem: 3→16, 16→16, 16→32), computed straight from the
 * channels-last input instead of through the patch matrix.
 *
 * <p><b>Why.</b> Through im2col + GEMM, each patch value is written once by {@link Im2col} and copied once more
 * (transposed) into the GEMM's packed panels, and then feeds only {@code 2·Cout} flops: at Cout = 16 the copies
 * cost more than the arithmetic (the 16→16 stem convolution ran at ~50 GFLOP/s on two cores). Here a register
 * tile of {@link #PIXELS} neighbouring output pixels × one vector of output channels reads the input values
 * where they are, one broadcast each: per kernel tap, one weight vector and {@code PIXELS} broadcasts feed
 * {@code PIXELS} FMAs.
 *
 * <p><b>Same sums as the GEMM.</b> With {@code K = kh·kw·Cin} at most one GEMM k-block ({@link #applies}), the
 * GEMM forms each output as one FMA chain over the patch in {@code (i, j, ci)} order from zero, then adds the
 * bias. This does the same, skipping the taps that fall on the zero padding (an FMA with a zero leaves the sum
 * as it is: the sum can never be −0), so the results are the GEMM path's bit for bit.
 *
 * <p><b>Input gradient.</b> With stride 1 the input gradient is the same kind of convolution of {@code dy}
 * with the weight transposed ({@code Cin ↔ Cout}) and flipped, and padding {@code k − 1 − p}
 * ({@link #transposedGeometry}, {@link #packTransposed}).
 *
 * <p><b>Weight gradient.</b> {@code dW[co][tap] = Σ_pixels dy·x(tap)}: per row segment of at most
 * {@link #SEGMENT} output pixels, a tile of {@link #TAPS} taps (consecutive input channels of one kernel
 * position) × one vector of output channels sums over the segment's pixels in registers (one {@code dy}
 * vector and {@code TAPS} broadcasts per pixel); {@link RowReduction} adds the segments' float sums into
 * double, so the long sum over all pixels keeps double accuracy.
 *
 * <p>Weights are packed tap-major: {@code packed[((i·kw + j)·Cin + ci)·Cout + co]}, so the output channels of one
 * tap are one vector load; the weight gradient's sums use the same layout.
 */
final class DirectConvolution {
    private DirectConvolution() {}

    /** Output pixels per register tile: 12 accumulators, like the GEMM's 12-row tile. */
    static final int PIXELS = 12;
    /** Most output channels taken here; wider outputs keep the GEMM's reuse of each patch value. */
    static final int MAX_COUT = 32;

    /** Output pixels per weight-gradient segment: each float sum holds at most this many terms. */
    static final int SEGMENT = 128;
    /** Taps per weight-gradient tile. */
    static final int TAPS = 8;

    /** Whether this path computes {@code g}: whole vectors of at most 32 output channels, K within one k-block. */
    static boolean applies(ConvGeometry g) {
        int k = g.kh() * g.kw() * g.cin();
        return g.cout() % L == 0 && g.cout() <= MAX_COUT && k <= Sgemm.DEFAULT.kc();
    }

    /** Whether the input gradient of {@code g} is a direct convolution ({@link #transposedGeometry}) taken here. */
    static boolean appliesToInputGradient(ConvGeometry g) {
        return g.stride() == 1 && g.kh() == g.kw() && g.padding() <= g.kh() - 1 && applies(transposedGeometry(g));
    }

    /** The convolution of {@code dy} that gives the input gradient of the stride-1 convolution {@code g}. */
    static ConvGeometry transposedGeometry(ConvGeometry g) {
        return new ConvGeometry(g.b(), g.ho(), g.wo(), g.cout(), g.cin(), g.kh(), g.kw(), 1,
                g.kh() - 1 - g.padding(), g.h(), g.w());
    }

    /** {@code weight (Cout, Cin, kh, kw)} into {@code packed[((i·kw + j)·Cin + ci)·Cout + co]}. */
    static void pack(float[] weight, int wo, ConvGeometry g, float[] packed) {
        int cin = g.cin(), cout = g.cout(), kh = g.kh(), kw = g.kw();
        for (int co = 0; co < cout; co++) {
            for (int ci = 0; ci < cin; ci++) {
                for (int t = 0; t < kh * kw; t++) packed[(t * cin + ci) * cout + co] = weight[wo + (co * cin + ci) * kh * kw + t];
            }
        }
    }

    /**
     * The weight of {@link #transposedGeometry} packed as {@link #pack} would: input and output channels swapped
     * and the taps flipped, {@code packed[((i·kw + j)·Cout + co)·Cin + ci] = weight[co][ci][kh−1−i][kw−1−j]}.
     */
    static void packTransposed(float[] weight, int wo, ConvGeometry g, float[] packed) {
        int cin = g.cin(), cout = g.cout(), kh = g.kh(), kw = g.kw(), taps = kh * kw;
        for (int co = 0; co < cout; co++) {
            for (int ci = 0; ci < cin; ci++) {
                for (int t = 0; t < taps; t++) {
                    packed[((taps - 1 - t) * cout + co) * cin + ci] = weight[wo + (co * cin + ci) * taps + t];
                }
            }
        }
    }

    /** Output row {@code q = n·Ho + oh}: {@code y = Σ x·w (+ bias)}; {@code bias} may be null. */
    static void forwardRow(ConvGeometry g, float[] x, int xOff, float[] packed, float[] bias, int bo, float[] y,
                           int yOff, int q) {
        int cin = g.cin(), cout = g.cout(), kh = g.kh(), kw = g.kw(), s = g.stride(), pad = g.padding();
        int h = g.h(), w = g.w(), wo = g.wo(), n = q / g.ho(), oh = q % g.ho();
        // kernel rows i inside the image: 0 ≤ oh·s − pad + i < h
        int ilo = Math.max(0, pad - oh * s), ihi = Math.min(kh, h + pad - oh * s);
        int rowStride = w * cin, pixelStride = s * cin, run = kw * cin;
        // x index of tap (0, 0, 0) of output pixel 0 (outside x where that tap is padding; never read then)
        int src0 = xOff + ((n * h + oh * s - pad) * w - pad) * cin;
        int dst0 = yOff + q * wo * cout;
        // output pixels whose kw taps all lie inside the row: first ≤ ow ≤ last
        int first = (pad + s - 1) / s, last = Math.floorDiv(w + pad - kw, s);
        int ow = 0;
        while (ow < wo) {
            int src = src0 + ow * pixelStride, dst = dst0 + ow * cout;
            if (ow >= first && ow + PIXELS - 1 <= last) {
                for (int co = 0; co < cout; co += L) {
                    tile(x, src, pixelStride, rowStride, ilo, ihi, run, packed, co, cout, bias, bo, y, dst + co);
                }
                ow += PIXELS;
            } else {
                int jlo = Math.max(0, pad - ow * s), jhi = Math.min(kw, w + pad - ow * s);
                pixel(x, src, rowStride, ilo, ihi, jlo * cin, jhi * cin, run, packed, cout, bias, bo, y, dst);
                ow++;
            }
        }
    }

    /**
     * {@link #PIXELS} output pixels, {@code pixelStride} apart in x, one vector of output channels from
     * {@code co}: per kernel row i in {@code [ilo, ihi)}, the {@code run = kw·Cin} taps are contiguous in x.
     */
    private static void tile(float[] x, int src, int pixelStride, int rowStride, int ilo, int ihi, int run,
                             float[] packed, int co, int cout, float[] bias, int bo, float[] y, int dst) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
        FloatVector a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
        int ps = pixelStride;
        for (int i = ilo; i < ihi; i++) {
            int xs = src + i * rowStride, ws = co + i * run * cout;
            for (int t = 0; t < run; t++, xs++, ws += cout) {
                FloatVector wv = FloatVector.fromArray(F, packed, ws);
                a0 = FloatVector.broadcast(F, x[xs]).fma(wv, a0);
                a1 = FloatVector.broadcast(F, x[xs + ps]).fma(wv, a1);
                a2 = FloatVector.broadcast(F, x[xs + 2 * ps]).fma(wv, a2);
                a3 = FloatVector.broadcast(F, x[xs + 3 * ps]).fma(wv, a3);
                a4 = FloatVector.broadcast(F, x[xs + 4 * ps]).fma(wv, a4);
                a5 = FloatVector.broadcast(F, x[xs + 5 * ps]).fma(wv, a5);
                a6 = FloatVector.broadcast(F, x[xs + 6 * ps]).fma(wv, a6);
                a7 = FloatVector.broadcast(F, x[xs + 7 * ps]).fma(wv, a7);
                a8 = FloatVector.broadcast(F, x[xs + 8 * ps]).fma(wv, a8);
                a9 = FloatVector.broadcast(F, x[xs + 9 * ps]).fma(wv, a9);
                a10 = FloatVector.broadcast(F, x[xs + 10 * ps]).fma(wv, a10);
                a11 = FloatVector.broadcast(F, x[xs + 11 * ps]).fma(wv, a11);
            }
        }
        if (bias != null) {
            FloatVector b = FloatVector.fromArray(F, bias, bo + co);
            a0 = a0.add(b);
            a1 = a1.add(b);
            a2 = a2.add(b);
            a3 = a3.add(b);
            a4 = a4.add(b);
            a5 = a5.add(b);
            a6 = a6.add(b);
            a7 = a7.add(b);
            a8 = a8.add(b);
            a9 = a9.add(b);
            a10 = a10.add(b);
            a11 = a11.add(b);
        }
        a0.intoArray(y, dst);
        a1.intoArray(y, dst + cout);
        a2.intoArray(y, dst + 2 * cout);
        a3.intoArray(y, dst + 3 * cout);
        a4.intoArray(y, dst + 4 * cout);
        a5.intoArray(y, dst + 5 * cout);
        a6.intoArray(y, dst + 6 * cout);
        a7.intoArray(y, dst + 7 * cout);
        a8.intoArray(y, dst + 8 * cout);
        a9.intoArray(y, dst + 9 * cout);
        a10.intoArray(y, dst + 10 * cout);
        a11.intoArray(y, dst + 11 * cout);
    }

    /** One output pixel, all output channels; per kernel row only the taps {@code [tlo, thi)} inside the image. */
    private static void pixel(float[] x, int src, int rowStride, int ilo, int ihi, int tlo, int thi, int run,
                              float[] packed, int cout, float[] bias, int bo, float[] y, int dst) {
        for (int co = 0; co < cout; co += L) {
            FloatVector acc = FloatVector.zero(F);
            for (int i = ilo; i < ihi; i++) {
                int xs = src + i * rowStride, ws = co + i * run * cout;
                for (int t = tlo; t < thi; t++) {
                    acc = FloatVector.broadcast(F, x[xs + t]).fma(FloatVector.fromArray(F, packed, ws + t * cout), acc);
                }
            }
            if (bias != null) acc = acc.add(FloatVector.fromArray(F, bias, bo + co));
            acc.intoArray(y, dst + co);
        }
    }

    /** Weight-gradient segments per output row. */
    static int segmentsPerRow(ConvGeometry g) {
        return (g.wo() + SEGMENT - 1) / SEGMENT;
    }

    /**
     * Segment {@code r} (of {@code B·Ho·segmentsPerRow}) of the weight gradient: adds
     * {@code Σ_{pixels of the segment} dy·x(tap)} into {@code block[tap·Cout + co]}, tap = {@code (i·kw + j)·Cin + ci}.
     */
    static void weightGradientSegment(ConvGeometry g, float[] x, int xOff, float[] dy, int dyOff, int r,
                                      float[] block) {
        int cin = g.cin(), cout = g.cout(), kh = g.kh(), kw = g.kw(), s = g.stride(), pad = g.padding();
        int h = g.h(), w = g.w(), wo = g.wo(), segs = segmentsPerRow(g), q = r / segs, n = q / g.ho(), oh = q % g.ho();
        int s0 = (r % segs) * SEGMENT, s1 = Math.min(wo, s0 + SEGMENT);
        int ilo = Math.max(0, pad - oh * s), ihi = Math.min(kh, h + pad - oh * s);
        for (int i = ilo; i < ihi; i++) {
            int xRow = xOff + (n * h + oh * s - pad + i) * w * cin;
            for (int j = 0; j < kw; j++) {
                // pixels whose tap column lies inside the row: 0 ≤ ow·s − pad + j < w
                int lo = Math.max(s0, Math.floorDiv(pad - j + s - 1, s)), hi = Math.min(s1, Math.floorDiv(w - 1 + pad - j, s) + 1);
                if (lo >= hi) continue;
                int xs = xRow + (lo * s - pad + j) * cin, ds = dyOff + (q * wo + lo) * cout, tap = (i * kw + j) * cin;
                for (int co = 0; co < cout; co += L) {
                    int ci = 0;
                    for (; ci + TAPS <= cin; ci += TAPS) {
                        weightTile(x, xs + ci, s * cin, dy, ds + co, cout, hi - lo, block, (tap + ci) * cout + co);
                    }
                    for (; ci < cin; ci++) weightTap(x, xs + ci, s * cin, dy, ds + co, cout, hi - lo, block, (tap + ci) * cout + co);
                }
            }
        }
    }

    /**
     * {@link #TAPS} consecutive taps ({@code x[xs + t]}, t < TAPS, for the first pixel; pixels {@code ps} apart)
     * × one vector of output channels ({@code dy[ds..]}, pixels {@code ld} apart), summed over {@code pixels}
     * pixels and added into {@code block[bo + t·ld ..]}.
     */
    private static void weightTile(float[] x, int xs, int ps, float[] dy, int ds, int ld, int pixels, float[] block,
                                   int bo) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        for (int p = 0; p < pixels; p++, xs += ps, ds += ld) {
            FloatVector d = FloatVector.fromArray(F, dy, ds);
            a0 = FloatVector.broadcast(F, x[xs]).fma(d, a0);
            a1 = FloatVector.broadcast(F, x[xs + 1]).fma(d, a1);
            a2 = FloatVector.broadcast(F, x[xs + 2]).fma(d, a2);
            a3 = FloatVector.broadcast(F, x[xs + 3]).fma(d, a3);
            a4 = FloatVector.broadcast(F, x[xs + 4]).fma(d, a4);
            a5 = FloatVector.broadcast(F, x[xs + 5]).fma(d, a5);
            a6 = FloatVector.broadcast(F, x[xs + 6]).fma(d, a6);
            a7 = FloatVector.broadcast(F, x[xs + 7]).fma(d, a7);
        }
        a0.add(FloatVector.fromArray(F, block, bo)).intoArray(block, bo);
        a1.add(FloatVector.fromArray(F, block, bo + ld)).intoArray(block, bo + ld);
        a2.add(FloatVector.fromArray(F, block, bo + 2 * ld)).intoArray(block, bo + 2 * ld);
        a3.add(FloatVector.fromArray(F, block, bo + 3 * ld)).intoArray(block, bo + 3 * ld);
        a4.add(FloatVector.fromArray(F, block, bo + 4 * ld)).intoArray(block, bo + 4 * ld);
        a5.add(FloatVector.fromArray(F, block, bo + 5 * ld)).intoArray(block, bo + 5 * ld);
        a6.add(FloatVector.fromArray(F, block, bo + 6 * ld)).intoArray(block, bo + 6 * ld);
        a7.add(FloatVector.fromArray(F, block, bo + 7 * ld)).intoArray(block, bo + 7 * ld);
    }

    /** {@link #weightTile} for one tap. */
    private static void weightTap(float[] x, int xs, int ps, float[] dy, int ds, int ld, int pixels, float[] block,
                                  int bo) {
        FloatVector a = FloatVector.zero(F);
        for (int p = 0; p < pixels; p++, xs += ps, ds += ld) a = FloatVector.broadcast(F, x[xs]).fma(FloatVector.fromArray(F, dy, ds), a);
        a.add(FloatVector.fromArray(F, block, bo)).intoArray(block, bo);
    }

    /** {@code dWeight[co][ci][i][j] += sum[((i·kw + j)·Cin + ci)·Cout + co]}, rounded once. */
    static void addWeightGradient(double[] sum, ConvGeometry g, float[] dw, int dwo) {
        int cin = g.cin(), cout = g.cout(), taps = g.kh() * g.kw();
        for (int co = 0; co < cout; co++) {
            for (int ci = 0; ci < cin; ci++) {
                for (int t = 0; t < taps; t++) {
                    int o = dwo + (co * cin + ci) * taps + t;
                    dw[o] = (float) (dw[o] + sum[(t * cin + ci) * cout + co]);
                }
            }
        }
    }
}
