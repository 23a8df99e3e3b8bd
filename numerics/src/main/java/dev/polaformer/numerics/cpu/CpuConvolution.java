package dev.polaformer.numerics.cpu;

import dev.polaformer.numerics.ConvGeometry;
import dev.polaformer.numerics.HeapMemory;
import dev.polaformer.numerics.HeapStorage;
import dev.polaformer.numerics.Tensor;

/**
 * Dense and depthwise 2-D convolutions on channels-last maps, forward and backward.
 *
 * <h2>Dense: im2col + GEMM</h2>
 * With the patch matrix {@code P (pixels × K)}, {@code K = kh·kw·Cin} ({@link Im2col}) and the weight repacked
 * to {@code W (Cout × K)} in the same {@code (i, j, ci)} column order:
 * <ul>
 *   <li>{@code y = P·Wᵀ (+ bias)};</li>
 *   <li>{@code dW += dyᵀ·P}: a GEMM whose inner dimension is the number of pixels, so each block's product is
 *       added into a double accumulator and dWeight is updated (rounded) once at the end;</li>
 *   <li>{@code dx = col2im(dy·W)} ({@link Im2col#addBack});</li>
 *   <li>{@code dBias += Σ_pixels dy} in double ({@link RowReduction}).</li>
 * </ul>
 * The pixels are processed in blocks of whole output rows holding about {@link #PATCH_BUDGET} patch values, so
 * the patch buffer stays a few MiB even for the stem at 224² × 32 (401k pixels); it is pooled tensor memory. A
 * 1×1 convolution with stride 1 and no padding needs no patches: {@code x} already is the patch matrix and the
 * PyTorch weight {@code (Cout, Cin, 1, 1)} already is {@code W}.
 *
 * <h2>Depthwise</h2>
 * Direct vector loops along the channels ({@link DepthwiseKernels}).
 */
final class CpuConvolution {
    /** Patch-matrix values per block (floats): 8 MiB. */
    static final int PATCH_BUDGET = 1 << 21;
    /** Blocks hold at least this many pixels, so the GEMM has rows enough to spread over threads. */
    private static final int MIN_BLOCK_PIXELS = 256;

    private final HeapMemory memory;
    private final Parallel parallel;

    CpuConvolution(HeapMemory memory, Parallel parallel) {
        this.memory = memory;
        this.parallel = parallel;
    }

    // ================================================================ dense

    void conv2d(Tensor x, Tensor weight, Tensor bias, int stride, int padding, Tensor y) {
        String op = "conv2d";
        ConvGeometry g = ConvGeometry.dense(op, x, weight, bias, stride, padding, y);
        float[] xa = memory.array(op, x), wa = memory.array(op, weight), ya = memory.array(op, y);
        float[] ba = bias == null ? null : memory.array(op, bias);
        int bo = bias == null ? 0 : bias.offset();
        int pixels = g.b() * g.ho() * g.wo(), k = g.kh() * g.kw() * g.cin(), cout = g.cout();
        if (pixels == 0 || cout == 0) return;
        PackedRight constant = constantWeight(weight, g);
        if (constant != null && (isPointwise(g) || !DirectConvolution.applies(g))) {
            convolveConstant(g, xa, x.offset(), constant, ba, bo, ya, y.offset());
            return;
        }
        if (isPointwise(g)) {
            Sgemm.gemm(parallel, false, true, pixels, cout, k, 1f, xa, x.offset(), k, wa, weight.offset(), k, 0f,
                    ya, y.offset(), cout);
            if (ba != null) addBias(ya, y.offset(), 0, pixels, cout, ba, bo);
            return;
        }
        if (DirectConvolution.applies(g)) {
            direct(op, g, xa, x.offset(), wa, weight.offset(), false, ba, bo, ya, y.offset());
            return;
        }
        int rowsPerBlock = outputRowsPerBlock(g);
        try (Tensor packed = memory.empty(cout * k); Tensor patches = memory.empty(rowsPerBlock * g.wo() * k)) {
            float[] w = memory.array(op, packed), pa = memory.array(op, patches);
            packWeight(wa, weight.offset(), g, w);
            for (int q0 = 0; q0 < g.b() * g.ho(); q0 += rowsPerBlock) {
                int q1 = Math.min(g.b() * g.ho(), q0 + rowsPerBlock);
                int p0 = q0 * g.wo(), p1 = q1 * g.wo();
                Im2col.fill(parallel, g, xa, x.offset(), p0, p1, pa);
                Sgemm.gemm(parallel, false, true, p1 - p0, cout, k, 1f, pa, 0, k, w, 0, k, 0f,
                        ya, y.offset() + p0 * cout, cout);
                if (ba != null) addBias(ya, y.offset(), p0, p1, cout, ba, bo);
            }
        }
    }

    /** Key of a constant weight's panels: {@code Wᵀ (K × Cout)}, K in (i, j, ci) order. */
    private static final Object PANELS = "conv2d weight";

    /** A constant weight's GEMM panels, packed on first use and kept with it; null for an ordinary weight. */
    private static PackedRight constantWeight(Tensor weight, ConvGeometry g) {
        if (!(weight.storage() instanceof HeapStorage hs) || !hs.isConstant() || weight.offset() != 0) return null;
        int k = g.kh() * g.kw() * g.cin(), cout = g.cout();
        if (hs.derived(PANELS) instanceof PackedRight p && p.k() == k && p.n() == cout) return p;
        float[] w = new float[cout * k];
        packWeight(hs.array(), 0, g, w);
        PackedRight p = PackedRight.pack(true, k, cout, w, 0, k);
        if (PackedRight.bf16Wanted()) p = p.inBf16();
        hs.keepDerived(PANELS, p);
        return p;
    }

    /** {@link #conv2d} with a constant weight: as the patch path, but multiplying by panels packed once. */
    private void convolveConstant(ConvGeometry g, float[] xa, int xo, PackedRight w, float[] ba, int bo,
                                  float[] ya, int yo) {
        int pixels = g.b() * g.ho() * g.wo(), k = g.kh() * g.kw() * g.cin(), cout = g.cout();
        if (isPointwise(g)) {
            Sgemm.gemm(parallel, false, pixels, 1f, xa, xo, k, w, 0f, ya, yo, cout);
            if (ba != null) addBias(ya, yo, 0, pixels, cout, ba, bo);
            return;
        }
        int rowsPerBlock = outputRowsPerBlock(g);
        try (Tensor patches = memory.empty(rowsPerBlock * g.wo() * k)) {
            float[] pa = memory.array("conv2d", patches);
            for (int q0 = 0; q0 < g.b() * g.ho(); q0 += rowsPerBlock) {
                int q1 = Math.min(g.b() * g.ho(), q0 + rowsPerBlock);
                int p0 = q0 * g.wo(), p1 = q1 * g.wo();
                Im2col.fill(parallel, g, xa, xo, p0, p1, pa);
                Sgemm.gemm(parallel, false, p1 - p0, 1f, pa, 0, k, w, 0f, ya, yo + p0 * cout, cout);
                if (ba != null) addBias(ya, yo, p0, p1, cout, ba, bo);
            }
        }
    }

    void conv2dBackward(Tensor x, Tensor weight, Tensor dy, int stride, int padding, Tensor dx, Tensor dWeight,
                        Tensor dBias) {
        String op = "conv2dBackward";
        ConvGeometry g = ConvGeometry.dense(op, x, weight, null, stride, padding, dy);
        ConvGeometry.requireGrads(op, x, weight, dx, dWeight, dBias, g.cout());
        float[] xa = memory.array(op, x), wa = memory.array(op, weight), dya = memory.array(op, dy);
        float[] dxa = dx == null ? null : memory.array(op, dx);
        int pixels = g.b() * g.ho() * g.wo(), k = g.kh() * g.kw() * g.cin(), cout = g.cout();
        boolean directDx = dxa != null && pixels > 0 && cout > 0 && !isPointwise(g)
                && DirectConvolution.appliesToInputGradient(g);
        // the patch path adds into dx; an empty output has no gradient to give it
        if (dxa != null && !directDx && (!isPointwise(g) || pixels == 0 || cout == 0)) zero(dxa, dx.offset(), dx.size());
        if (pixels == 0 || cout == 0) return;
        if (dBias != null) biasGradient(op, dya, dy.offset(), pixels, cout, dBias);
        if (directDx) {
            direct(op, g, dya, dy.offset(), wa, weight.offset(), true, null, 0, dxa, dx.offset());
            dxa = null;
        }
        if (dWeight != null && DirectConvolution.applies(g)) {
            directWeightGradient(op, g, xa, x.offset(), dya, dy.offset(), dWeight);
            dWeight = null;
        }
        if (dxa == null && dWeight == null) return;
        if (isPointwise(g)) {
            if (dxa != null) {
                Sgemm.gemm(parallel, false, false, pixels, k, cout, 1f, dya, dy.offset(), cout, wa, weight.offset(), k,
                        0f, dxa, dx.offset(), k);
            }
            if (dWeight != null) {
                try (Tensor tmp = memory.empty(cout * k)) {
                    float[] t = memory.array(op, tmp);
                    Sgemm.gemm(parallel, true, false, cout, k, pixels, 1f, dya, dy.offset(), cout, xa, x.offset(), k,
                            0f, t, 0, k);
                    float[] dwa = memory.array(op, dWeight);
                    for (int i = 0, o = dWeight.offset(); i < cout * k; i++) dwa[o + i] += t[i];
                }
            }
            return;
        }
        int rowsPerBlock = outputRowsPerBlock(g);
        int blockFloats = rowsPerBlock * g.wo() * k;
        double[] dwSum = dWeight == null ? null : Scratch.takeDoubles(cout * k);
        try (Tensor packed = memory.empty(cout * k); Tensor patches = memory.empty(blockFloats);
             Tensor work = memory.empty(Math.max(blockFloats, cout * k))) {
            float[] w = memory.array(op, packed), pa = memory.array(op, patches), wk = memory.array(op, work);
            packWeight(wa, weight.offset(), g, w);
            for (int q0 = 0; q0 < g.b() * g.ho(); q0 += rowsPerBlock) {
                int q1 = Math.min(g.b() * g.ho(), q0 + rowsPerBlock);
                int p0 = q0 * g.wo(), p1 = q1 * g.wo(), rows = p1 - p0;
                int dyBlock = dy.offset() + p0 * cout;
                if (dwSum != null) {
                    // dW (Cout × K) += dy_blockᵀ · patches_block, each block's product summed in double
                    Im2col.fill(parallel, g, xa, x.offset(), p0, p1, pa);
                    Sgemm.gemm(parallel, true, false, cout, k, rows, 1f, dya, dyBlock, cout, pa, 0, k, 0f, wk, 0, k);
                    RowReduction.flush(wk, dwSum, cout * k);
                }
                if (dxa != null) {
                    // patch gradient = dy_block · W, then scattered back onto dx
                    Sgemm.gemm(parallel, false, false, rows, k, cout, 1f, dya, dyBlock, cout, w, 0, k, 0f, wk, 0, k);
                    Im2col.addBack(parallel, g, wk, q0, q1, dxa, dx.offset());
                }
            }
            if (dwSum != null) unpackWeightGradient(dwSum, g, memory.array(op, dWeight), dWeight.offset());
        } finally {
            if (dwSum != null) Scratch.give(dwSum);
        }
    }

    /**
     * {@code y = conv(x) (+ bias)} by {@link DirectConvolution}, in parallel over output rows; with
     * {@code transposed}, {@code g} is the forward convolution and this computes its input gradient into
     * {@code y} from {@code x = dy} (stride 1).
     */
    private void direct(String op, ConvGeometry g, float[] x, int xo, float[] weight, int wo, boolean transposed,
                        float[] bias, int bo, float[] y, int yo) {
        ConvGeometry d = transposed ? DirectConvolution.transposedGeometry(g) : g;
        try (Tensor packed = memory.empty(d.kh() * d.kw() * d.cin() * d.cout())) {
            float[] w = memory.array(op, packed);
            if (transposed) DirectConvolution.packTransposed(weight, wo, g, w); else DirectConvolution.pack(weight, wo, g, w);
            long flopsPerRow = 2L * d.wo() * d.kh() * d.kw() * d.cin() * d.cout();
            parallel.forRange(d.b() * d.ho(), (int) Math.max(1, (1 << 18) / flopsPerRow), (q0, q1) -> {
                for (int q = q0; q < q1; q++) DirectConvolution.forwardRow(d, x, xo, w, bias, bo, y, yo, q);
            });
        }
    }

    /** {@code dWeight += Σ dy·x(tap)} by {@link DirectConvolution}: row segments in float, summed in double. */
    private void directWeightGradient(String op, ConvGeometry g, float[] x, int xo, float[] dy, int dyo,
                                      Tensor dWeight) {
        int width = g.kh() * g.kw() * g.cin() * g.cout();
        double[] sum = Scratch.takeDoubles(width);
        try {
            int segments = g.b() * g.ho() * DirectConvolution.segmentsPerRow(g);
            RowReduction.run(parallel, segments, width, 1, 1,
                    (r, block, partial) -> DirectConvolution.weightGradientSegment(g, x, xo, dy, dyo, r, block), sum);
            DirectConvolution.addWeightGradient(sum, g, memory.array(op, dWeight), dWeight.offset());
        } finally {
            Scratch.give(sum);
        }
    }

    private static boolean isPointwise(ConvGeometry g) {
        return g.kh() == 1 && g.kw() == 1 && g.stride() == 1 && g.padding() == 0;
    }

    /** Output rows (of Wo pixels) per block: about {@link #PATCH_BUDGET} patch values, at least one row. */
    private static int outputRowsPerBlock(ConvGeometry g) {
        long k = (long) g.kh() * g.kw() * g.cin();
        long pixels = Math.max(MIN_BLOCK_PIXELS, PATCH_BUDGET / Math.max(1, k));
        long rows = Math.max(1, pixels / g.wo());
        return (int) Math.min(rows, (long) g.b() * g.ho());
    }

    /** {@code packed[co·K + (i·kw + j)·Cin + ci] = weight[co][ci][i][j]}. */
    private static void packWeight(float[] weight, int wo, ConvGeometry g, float[] packed) {
        int cin = g.cin(), kh = g.kh(), kw = g.kw(), k = kh * kw * cin;
        for (int co = 0; co < g.cout(); co++) {
            for (int ci = 0; ci < cin; ci++) {
                for (int i = 0; i < kh; i++) {
                    for (int j = 0; j < kw; j++) {
                        packed[co * k + (i * kw + j) * cin + ci] = weight[wo + ((co * cin + ci) * kh + i) * kw + j];
                    }
                }
            }
        }
    }

    /** {@code dWeight[co][ci][i][j] += sum[co·K + (i·kw + j)·Cin + ci]}, rounded once. */
    private static void unpackWeightGradient(double[] sum, ConvGeometry g, float[] dw, int dwo) {
        int cin = g.cin(), kh = g.kh(), kw = g.kw(), k = kh * kw * cin;
        for (int co = 0; co < g.cout(); co++) {
            for (int ci = 0; ci < cin; ci++) {
                for (int i = 0; i < kh; i++) {
                    for (int j = 0; j < kw; j++) {
                        int o = dwo + ((co * cin + ci) * kh + i) * kw + j;
                        dw[o] = (float) (dw[o] + sum[co * k + (i * kw + j) * cin + ci]);
                    }
                }
            }
        }
    }

    // ================================================================ depthwise

    void depthwiseConv2d(Tensor x, Tensor weight, Tensor bias, int padding, Tensor y) {
        String op = "depthwiseConv2d";
        ConvGeometry g = ConvGeometry.depthwise(op, x, weight, bias, padding, y);
        float[] xa = memory.array(op, x), wa = memory.array(op, weight), ya = memory.array(op, y);
        float[] ba = bias == null ? null : memory.array(op, bias);
        int bo = bias == null ? 0 : bias.offset(), c = g.cin(), k = g.kh();
        if (c == 0 || y.size() == 0) return;
        try (Tensor packed = memory.empty(k * k * c)) {
            float[] w = memory.array(op, packed);
            DepthwiseKernels.pack(wa, weight.offset(), c, k, w);
            int xo = x.offset(), yo = y.offset();
            parallel.forRange(g.b() * g.ho(), Math.max(1, 4096 / Math.max(1, g.wo() * c)), (r0, r1) -> {
                for (int r = r0; r < r1; r++) {
                    DepthwiseKernels.forwardRow(g, xa, xo, w, ba, bo, ya, yo, r / g.ho(), r % g.ho());
                }
            });
        }
    }

    void depthwiseConv2dBackward(Tensor x, Tensor weight, Tensor dy, int padding, Tensor dx, Tensor dWeight,
                                 Tensor dBias) {
        String op = "depthwiseConv2dBackward";
        ConvGeometry g = ConvGeometry.depthwise(op, x, weight, null, padding, dy);
        ConvGeometry.requireGrads(op, x, weight, dx, dWeight, dBias, g.cout());
        float[] xa = memory.array(op, x), wa = memory.array(op, weight), dya = memory.array(op, dy);
        int c = g.cin(), k = g.kh(), pixels = g.b() * g.ho() * g.wo();
        int xo = x.offset(), dyo = dy.offset();
        if (c == 0) return;
        if (pixels == 0) {
            if (dx != null) zero(memory.array(op, dx), dx.offset(), dx.size());
            return;
        }
        if (dBias != null) biasGradient(op, dya, dyo, pixels, c, dBias);
        if (dWeight != null) {
            double[] sum = Scratch.takeDoubles(k * k * c);
            try {
                // one row per segment of ≤ 64 output pixels, whose sums are already float blocks: flush each
                int segments = g.b() * g.ho() * DepthwiseKernels.segmentsPerRow(g);
                RowReduction.run(parallel, segments, k * k * c, 1, 1,
                        (r, block, partial) -> DepthwiseKernels.weightGradientSegment(g, xa, xo, dya, dyo, r, block), sum);
                float[] dw = memory.array(op, dWeight);
                int dwo = dWeight.offset();
                for (int ch = 0; ch < c; ch++) {
                    for (int t = 0; t < k * k; t++) {
                        int o = dwo + ch * k * k + t;
                        dw[o] = (float) (dw[o] + sum[t * c + ch]);
                    }
                }
            } finally {
                Scratch.give(sum);
            }
        }
        if (dx != null) {
            float[] dxa = memory.array(op, dx);
            int dxo = dx.offset();
            try (Tensor packed = memory.empty(k * k * c)) {
                float[] w = memory.array(op, packed);
                DepthwiseKernels.pack(wa, weight.offset(), c, k, w);
                parallel.forRange(g.b() * g.h(), Math.max(1, 4096 / Math.max(1, g.w() * c)), (r0, r1) -> {
                    for (int r = r0; r < r1; r++) {
                        DepthwiseKernels.inputGradientRow(g, dya, dyo, w, dxa, dxo, r / g.h(), r % g.h());
                    }
                });
            }
        }
    }

    // ================================================================ shared pieces

    /** {@code y[p, :] += bias} for pixels {@code p0..p1}. */
    private void addBias(float[] y, int yo, int p0, int p1, int cout, float[] bias, int bo) {
        parallel.forRange(p1 - p0, Math.max(1, 8192 / cout), (r0, r1) -> {
            for (int p = p0 + r0; p < p0 + r1; p++) Im2col.addInto(bias, bo, y, yo + p * cout, cout);
        });
    }

    /** {@code dBias += Σ_pixels dy}, in double. */
    private void biasGradient(String op, float[] dy, int dyo, int pixels, int c, Tensor dBias) {
        double[] sum = Scratch.takeDoubles(c);
        try {
            RowReduction.run(parallel, pixels, c, Math.max(1, 4096 / c),
                    (p, block, partial) -> Im2col.addInto(dy, dyo + p * c, block, 0, c), sum);
            float[] db = memory.array(op, dBias);
            for (int j = 0, o = dBias.offset(); j < c; j++) db[o + j] = (float) (db[o + j] + sum[j]);
        } finally {
            Scratch.give(sum);
        }
    }

    private void zero(float[] a, int offset, int n) {
        parallel.forRange(n, 1 << 16, (i0, i1) -> java.util.Arrays.fill(a, offset + i0, offset + i1, 0f));
    }
}
