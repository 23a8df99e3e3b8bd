package dev.polaformer.numerics.cpu;

import dev.polaformer.numerics.HeapMemory;
import dev.polaformer.numerics.RopeTables;
import dev.polaformer.numerics.Shapes;
import dev.polaformer.numerics.Tensor;
import jdk.incubator.vector.FloatVector;

import static dev.polaformer.numerics.cpu.Simd.F;
import static dev.polaformer.numerics.cpu.Simd.L;

/**
 * Activations, softmax, RoPE, broadcast arithmetic, reductions, pooling and the loss on the CPU.
 *
 * <p>Every op here accepts views of any strides, as the reference backend does: elementwise ops run through
 * {@link Elementwise} (contiguous runs go straight to the vector kernel, others are gathered), row-wise ops
 * through {@link Rows}, reductions through {@link BroadcastReduction}. The kernels themselves live in
 * {@link GeluKernels}, {@link SiluKernels}, {@link SoftmaxKernels}, {@link RopeKernels}; the small ones are
 * below. Arguments are checked with {@link Shapes}, so bad input fails as in the reference backend.
 */
final class CpuPointwise {
    private final HeapMemory memory;
    private final Parallel parallel;

    CpuPointwise(HeapMemory memory, Parallel parallel) {
        this.memory = memory;
        this.parallel = parallel;
    }

    // ================================================================ activations

    void gelu(Tensor x, Tensor y) {
        map("gelu", x, y, GeluKernels::gelu);
    }

    void geluBackward(Tensor x, Tensor dy, Tensor dx) {
        gradient("geluBackward", x, dy, dx, GeluKernels::geluBackward);
    }

    void silu(Tensor x, Tensor y) {
        map("silu", x, y, SiluKernels::silu);
    }

    void siluBackward(Tensor x, Tensor dy, Tensor dx) {
        gradient("siluBackward", x, dy, dx, SiluKernels::siluBackward);
    }

    void softmax(Tensor x, Tensor y) {
        String op = "softmax";
        Shapes.requireSameShape(op, "x", x, "y", y);
        float[] xa = memory.array(op, x), ya = memory.array(op, y);
        int n = Rows.length(x), sx = Rows.stride(x), sy = Rows.stride(y);
        Rows.forEach(parallel, Math.max(1, 4096 / Math.max(1, n)), (r, o) -> {
            if (sx == 1 && sy == 1) {
                SoftmaxKernels.softmax(xa, o[0], ya, o[1], n);
            } else {
                float[] row = Scratch.floats(0, n);
                Rows.gather(xa, o[0], sx, row, n);
                SoftmaxKernels.softmax(row, 0, row, 0, n);
                Rows.scatter(row, ya, o[1], sy, n);
            }
        }, x, y);
    }

    void softmaxBackward(Tensor y, Tensor dy, Tensor dx) {
        String op = "softmaxBackward";
        Shapes.requireSameShape(op, "y", y, "dy", dy);
        Shapes.requireSameShape(op, "y", y, "dx", dx);
        float[] ya = memory.array(op, y), dya = memory.array(op, dy), dxa = memory.array(op, dx);
        int n = Rows.length(y), sy = Rows.stride(y), sdy = Rows.stride(dy), sdx = Rows.stride(dx);
        Rows.forEach(parallel, Math.max(1, 4096 / Math.max(1, n)), (r, o) -> {
            if (sy == 1 && sdy == 1 && sdx == 1) {
                SoftmaxKernels.softmaxBackward(ya, o[0], dya, o[1], dxa, o[2], n);
            } else {
                float[] yr = Scratch.floats(0, n), gr = Scratch.floats(1, n);
                Rows.gather(ya, o[0], sy, yr, n);
                Rows.gather(dya, o[1], sdy, gr, n);
                SoftmaxKernels.softmaxBackward(yr, 0, gr, 0, gr, 0, n);
                Rows.scatter(gr, dxa, o[2], sdx, n);
            }
        }, y, dy, dx);
    }

    void rope(Tensor x, RopeTables rope, Tensor y) {
        rotate("rope", x, rope, y, false);
    }

    void ropeBackward(Tensor dy, RopeTables rope, Tensor dx) {
        rotate("ropeBackward", dy, rope, dx, true);
    }

    private void rotate(String op, Tensor x, RopeTables rope, Tensor y, boolean inverse) {
        Shapes.requireRank(op, "x", x, 3);
        Shapes.requireSameShape(op, "x", x, "y", y);
        int n = x.dim(1), c = x.dim(2), d = rope.width();
        Shapes.requireShape(op, "rope.sin", rope.sin(), n, d);
        if (c % d != 0) {
            throw new IllegalArgumentException(op + ": " + c + " channels are not a multiple of the table width " + d);
        }
        float[] xa = memory.array(op, x), ya = memory.array(op, y);
        Tensor sin = rope.sin(), cos = rope.cos();
        float[] sinA = sin.isContiguous() ? memory.array(op, sin) : sin.toArray();
        float[] cosA = cos.isContiguous() ? memory.array(op, cos) : cos.toArray();
        int sinO = sin.isContiguous() ? sin.offset() : 0, cosO = cos.isContiguous() ? cos.offset() : 0;
        try (Tensor signed = memory.empty(n, d)) {
            float[] t = memory.array(op, signed);
            RopeKernels.signedSin(sinA, sinO, t, n * d, inverse);
            int sx = Rows.stride(x), sy = Rows.stride(y);
            Rows.forEach(parallel, Math.max(1, 4096 / Math.max(1, c)), (r, o) -> {
                int token = r % n, to = token * d;
                if (sx == 1 && sy == 1) {
                    for (int g = 0; g < c; g += d) RopeKernels.rotate(xa, o[0] + g, cosA, cosO + to, t, to, ya, o[1] + g, d);
                } else {
                    float[] in = Scratch.floats(0, c), out = Scratch.floats(1, c);
                    Rows.gather(xa, o[0], sx, in, c);
                    for (int g = 0; g < c; g += d) RopeKernels.rotate(in, g, cosA, cosO + to, t, to, out, g, d);
                    Rows.scatter(out, ya, o[1], sy, c);
                }
            }, x, y);
        }
    }

    // ================================================================ elementwise

    void add(Tensor a, Tensor b, Tensor out) {
        broadcast("add", a, b, out, CpuPointwise::addRun);
    }

    void mul(Tensor a, Tensor b, Tensor out) {
        broadcast("mul", a, b, out, CpuPointwise::mulRun);
    }

    void scale(Tensor x, float alpha, Tensor y) {
        map("scale", x, y, (a, ao, unused, uo, o, oo, n) -> scaleRun(a, ao, alpha, o, oo, n));
    }

    void addScaled(Tensor x, float alpha, Tensor y) {
        String op = "addScaled";
        Shapes.requireSameShape(op, "x", x, "y", y);
        float[] xa = memory.array(op, x), ya = memory.array(op, y);
        CollapsedLayout l = CollapsedLayout.of(y.shape(), new int[] {y.offset(), y.offset(), x.offset()},
                y.strides(), y.strides(), x.strides());
        Elementwise.run(parallel, l, ya, ya, xa, (a, ao, b, bo, o, oo, n) -> addScaledRun(a, ao, b, bo, alpha, o, oo, n));
    }

    // ================================================================ reductions and pooling

    void sumTo(Tensor x, Tensor out, boolean accumulate) {
        reduceTo("sumTo", x, null, out, accumulate);
    }

    void mulSumTo(Tensor a, Tensor b, Tensor out, boolean accumulate) {
        reduceTo("mulSumTo", a, b, out, accumulate);
    }

    private void reduceTo(String op, Tensor a, Tensor b, Tensor out, boolean accumulate) {
        Shapes.requireBroadcastable(op, "x", a, "out", out);
        if (b != null) Shapes.requireSameShape(op, "a", a, "b", b);
        float[] aa = memory.array(op, a), ba = b == null ? null : memory.array(op, b), oa = memory.array(op, out);
        if (a.size() == 0) {
            if (!accumulate) parallel.forEachHere(1, i -> memory.fill(out, 0f));
            return;
        }
        int[] shape = a.shape();
        BroadcastReduction.run(parallel, shape, aa, a.offset(), a.strides(),
                ba, b == null ? 0 : b.offset(), b == null ? null : b.strides(),
                oa, out.offset(), CollapsedLayout.broadcastStrides(out, shape), accumulate, 1);
    }

    void avgPool(Tensor x, Tensor y) {
        String op = "avgPool";
        Shapes.requireRank(op, "x", x, 4);
        Shapes.requireShape(op, "y", y, x.dim(0), x.dim(3));
        float[] xa = memory.array(op, x), ya = memory.array(op, y);
        if (x.size() == 0) {
            parallel.forEachHere(1, i -> memory.fill(y, Float.NaN)); // an empty image: 0/0, as the reference computes it
            return;
        }
        if (x.isContiguous() && y.isContiguous()) {
            int xo = x.offset(), batch = x.dim(0), positions = x.dim(1) * x.dim(2), channels = x.dim(3), yo = y.offset();
            parallel.forEachHere(1, i -> averageContiguous(xa, xo, batch, positions, channels, ya, yo));
            return;
        }
        int[] outStrides = {y.stride(0), 0, 0, y.stride(1)};
        BroadcastReduction.run(parallel, x.shape(), xa, x.offset(), x.strides(), null, 0, null,
                ya, y.offset(), outStrides, false, (double) x.dim(1) * x.dim(2));
    }

    /**
     * The model's pooling, a contiguous {@code (B, positions, C)} map (7×7×2048 at 224²): per image, the positions
     * added row by row into a double per channel, on the calling thread. A few hundred thousand adds, less than
     * waking the pool costs; and no vector-shape conversion, which C2 left uncompiled in this once-per-forward
     * kernel (it then allocated on every call).
     */
    private static void averageContiguous(float[] x, int xo, int batch, int positions, int channels, float[] y, int yo) {
        double[] acc = Scratch.doubles(0, channels);
        for (int b = 0; b < batch; b++) {
            java.util.Arrays.fill(acc, 0, channels, 0);
            for (int p = 0, row = xo + b * positions * channels; p < positions; p++, row += channels) {
                for (int c = 0; c < channels; c++) acc[c] += x[row + c];
            }
            for (int c = 0; c < channels; c++) y[yo + b * channels + c] = (float) (acc[c] / positions);
        }
    }

    void avgPoolBackward(Tensor dy, Tensor dx) {
        String op = "avgPoolBackward";
        Shapes.requireRank(op, "dx", dx, 4);
        Shapes.requireShape(op, "dy", dy, dx.dim(0), dx.dim(3));
        float[] dya = memory.array(op, dy), dxa = memory.array(op, dx);
        float positions = (float) dx.dim(1) * dx.dim(2);
        int[] dyStrides = {dy.stride(0), 0, 0, dy.stride(1)};
        CollapsedLayout l = CollapsedLayout.of(dx.shape(), new int[] {dx.offset(), dy.offset()}, dx.strides(), dyStrides);
        Elementwise.run(parallel, l, dxa, dya, null, (a, ao, unused, uo, o, oo, n) -> divideRun(a, ao, positions, o, oo, n));
    }

    double crossEntropy(Tensor logits, Tensor targets, Tensor dLogits) {
        String op = "crossEntropy";
        Shapes.requireRank(op, "logits", logits, 2);
        Shapes.requireSameShape(op, "logits", logits, "targets", targets);
        if (dLogits != null) Shapes.requireSameShape(op, "logits", logits, "dLogits", dLogits);
        float[] la = memory.array(op, logits), ta = memory.array(op, targets);
        float[] ga = dLogits == null ? null : memory.array(op, dLogits);
        requireFinite(op, "logits", logits, la);
        requireFinite(op, "targets", targets, ta);
        return CrossEntropy.run(parallel, la, logits, ta, targets, ga, dLogits);
    }

    double sumOfSquares(Tensor x) {
        String op = "sumOfSquares";
        float[] xa = memory.array(op, x);
        if (x.size() == 0) return 0;
        CollapsedLayout l = CollapsedLayout.of(x.shape(), new int[] {x.offset()}, x.strides());
        int inner = l.inner, sx = l.innerStride(0);
        int piece = Math.min(inner, Elementwise.PIECE);
        int perRow = (inner + piece - 1) / piece, pieces = l.rows * perRow;
        double[] partial = Scratch.takeDoubles(pieces);
        try {
            parallel.forRange(pieces, Math.max(1, (1 << 15) / piece), (p0, p1) -> {
                int[] o = new int[1];
                for (int p = p0; p < p1; p++) {
                    int row = p / perRow, j0 = (p - row * perRow) * piece;
                    l.rowOffsets(row, o);
                    partial[p] = DoubleDot.squares(xa, o[0] + j0 * sx, sx, Math.min(piece, inner - j0));
                }
            });
            double s = 0;
            for (double v : partial) s += v;
            return s;
        } finally {
            Scratch.give(partial);
        }
    }

    // ================================================================ plumbing

    private void map(String op, Tensor x, Tensor y, Elementwise.Kernel kernel) {
        if (x.isContiguous() && y.isContiguous() && x.sameShape(y)) {
            Elementwise.flat(parallel, y.size(), memory.array(op, y), y.offset(), memory.array(op, x), x.offset(),
                    null, 0, kernel);
            return;
        }
        Shapes.requireSameShape(op, "x", x, "y", y);
        float[] xa = memory.array(op, x), ya = memory.array(op, y);
        CollapsedLayout l = CollapsedLayout.of(y.shape(), new int[] {y.offset(), x.offset()}, y.strides(), x.strides());
        Elementwise.run(parallel, l, ya, xa, null, kernel);
    }

    private void gradient(String op, Tensor x, Tensor dy, Tensor dx, Elementwise.Kernel kernel) {
        Shapes.requireSameShape(op, "x", x, "dy", dy);
        Shapes.requireSameShape(op, "x", x, "dx", dx);
        float[] xa = memory.array(op, x), dya = memory.array(op, dy), dxa = memory.array(op, dx);
        CollapsedLayout l = CollapsedLayout.of(dx.shape(), new int[] {dx.offset(), x.offset(), dy.offset()},
                dx.strides(), x.strides(), dy.strides());
        Elementwise.run(parallel, l, dxa, xa, dya, kernel);
    }

    private void broadcast(String op, Tensor a, Tensor b, Tensor out, Elementwise.Kernel kernel) {
        if (a.isContiguous() && out.isContiguous() && a.sameShape(out) && b.isContiguous()) {
            // The model's cases, checked without the general layout: equal shapes, or a bias over the channels
            float[] aa = memory.array(op, a), ba = memory.array(op, b), oa = memory.array(op, out);
            if (a.sameShape(b)) {
                Elementwise.flat(parallel, a.size(), oa, out.offset(), aa, a.offset(), ba, b.offset(), kernel);
                return;
            }
            int c = a.rank() == 0 ? 0 : a.dim(-1);
            if (b.rank() == 1 && b.dim(0) == c && c > 0) {
                Elementwise.rows(parallel, a.size() / c, c, oa, out.offset(), aa, a.offset(), ba, b.offset(), kernel);
                return;
            }
        }
        Shapes.requireBroadcastable(op, "a", a, "b", b);
        Shapes.requireSameShape(op, "a", a, "out", out);
        float[] aa = memory.array(op, a), ba = memory.array(op, b), oa = memory.array(op, out);
        int[] shape = a.shape();
        CollapsedLayout l = CollapsedLayout.of(shape, new int[] {out.offset(), a.offset(), b.offset()},
                out.strides(), a.strides(), CollapsedLayout.broadcastStrides(b, shape));
        Elementwise.run(parallel, l, oa, aa, ba, kernel);
    }

    private static void requireFinite(String op, String name, Tensor t, float[] array) {
        if (t.isContiguous()) {
            int o = t.offset(), n = t.size();
            for (int i = 0; i < n; i++) {
                if (!Float.isFinite(array[o + i])) throw notFinite(op, name, t, array[o + i], i);
            }
            return;
        }
        int[] offsets = HeapMemory.offsets(t);
        for (int i = 0; i < offsets.length; i++) {
            if (!Float.isFinite(array[offsets[i]])) throw notFinite(op, name, t, array[offsets[i]], i);
        }
    }

    private static ArithmeticException notFinite(String op, String name, Tensor t, float value, int index) {
        return new ArithmeticException(op + ": " + name + " " + Shapes.str(t) + " holds " + (double) value
                + " at flat index " + index);
    }

    // ================================================================ small kernels (contiguous runs)

    private static void addRun(float[] a, int ao, float[] b, int bo, float[] o, int oo, int n) {
        int i = 0, bound = F.loopBound(n);
        for (; i < bound; i += L) {
            FloatVector.fromArray(F, a, ao + i).add(FloatVector.fromArray(F, b, bo + i)).intoArray(o, oo + i);
        }
        for (; i < n; i++) o[oo + i] = a[ao + i] + b[bo + i];
    }

    private static void mulRun(float[] a, int ao, float[] b, int bo, float[] o, int oo, int n) {
        int i = 0, bound = F.loopBound(n);
        for (; i < bound; i += L) {
            FloatVector.fromArray(F, a, ao + i).mul(FloatVector.fromArray(F, b, bo + i)).intoArray(o, oo + i);
        }
        for (; i < n; i++) o[oo + i] = a[ao + i] * b[bo + i];
    }

    private static void scaleRun(float[] a, int ao, float alpha, float[] o, int oo, int n) {
        int i = 0, bound = F.loopBound(n);
        for (; i < bound; i += L) FloatVector.fromArray(F, a, ao + i).mul(alpha).intoArray(o, oo + i);
        for (; i < n; i++) o[oo + i] = alpha * a[ao + i];
    }

    /** {@code o = a + alpha·b}, rounded once (an FMA), as the reference's double sum rounds once. */
    private static void addScaledRun(float[] a, int ao, float[] b, int bo, float alpha, float[] o, int oo, int n) {
        int i = 0, bound = F.loopBound(n);
        FloatVector al = FloatVector.broadcast(F, alpha);
        for (; i < bound; i += L) {
            FloatVector.fromArray(F, b, bo + i).fma(al, FloatVector.fromArray(F, a, ao + i)).intoArray(o, oo + i);
        }
        for (; i < n; i++) o[oo + i] = Math.fma(b[bo + i], alpha, a[ao + i]);
    }

    private static void divideRun(float[] a, int ao, float divisor, float[] o, int oo, int n) {
        int i = 0, bound = F.loopBound(n);
        for (; i < bound; i += L) FloatVector.fromArray(F, a, ao + i).div(divisor).intoArray(o, oo + i);
        for (; i < n; i++) o[oo + i] = a[ao + i] / divisor;
    }
}
