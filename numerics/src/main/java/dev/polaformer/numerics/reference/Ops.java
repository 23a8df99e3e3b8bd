package dev.polaformer.numerics.reference;

import dev.polaformer.numerics.HeapMemory;
import dev.polaformer.numerics.RopeTables;
import dev.polaformer.numerics.Shapes;
import dev.polaformer.numerics.Tensor;

import java.util.function.DoubleBinaryOperator;
import java.util.function.DoubleUnaryOperator;

/** Moves tensors in and out of double arrays for the reference kernels, and the generic elementwise ops. */
final class Ops {
    private final HeapMemory memory;

    Ops(HeapMemory memory) {
        this.memory = memory;
    }

    /** The elements of {@code t} (any strides), widened, in row-major order. */
    double[] in(String op, Tensor t) {
        Shapes.requireNonNull(op, "tensor", t);
        float[] a = memory.array(op, t);
        int[] off = HeapMemory.offsets(t);
        double[] d = new double[off.length];
        for (int i = 0; i < off.length; i++) d[i] = a[off[i]];
        return d;
    }

    /** Stores {@code values} (row-major) into {@code t}, rounding each to float once. */
    void out(double[] values, Tensor t) {
        float[] a = memory.array("store", t);
        int[] off = HeapMemory.offsets(t);
        for (int i = 0; i < off.length; i++) a[off[i]] = (float) values[i];
    }

    void outIfPresent(double[] values, Tensor t) {
        if (values != null && t != null) out(values, t);
    }

    void map(String op, Tensor x, Tensor y, DoubleUnaryOperator f) {
        Shapes.requireSameShape(op, "x", x, "y", y);
        double[] xd = in(op, x);
        for (int i = 0; i < xd.length; i++) xd[i] = f.applyAsDouble(xd[i]);
        out(xd, y);
    }

    /** {@code dx = dy · f'(x)}. */
    void mapGrad(String op, Tensor x, Tensor dy, Tensor dx, DoubleUnaryOperator derivative) {
        Shapes.requireSameShape(op, "x", x, "dy", dy);
        Shapes.requireSameShape(op, "x", x, "dx", dx);
        double[] xd = in(op, x), g = in(op, dy);
        for (int i = 0; i < xd.length; i++) g[i] *= derivative.applyAsDouble(xd[i]);
        out(g, dx);
    }

    /** {@code out = f(a, broadcast(b))}. */
    void broadcast(String op, Tensor a, Tensor b, Tensor out, DoubleBinaryOperator f) {
        Shapes.requireBroadcastable(op, "a", a, "b", b);
        Shapes.requireSameShape(op, "a", a, "out", out);
        double[] ad = in(op, a), bd = in(op, b);
        int[] map = broadcastIndex(b.shape(), a.shape());
        for (int i = 0; i < ad.length; i++) ad[i] = f.applyAsDouble(ad[i], bd[map[i]]);
        out(ad, out);
    }

    /** {@code out (+)= Σ a⊙b} (or {@code Σ a} when {@code b} is null) over the dimensions {@code out} broadcasts along. */
    void reduceTo(String op, Tensor a, Tensor b, Tensor out, boolean accumulate) {
        Shapes.requireBroadcastable(op, "x", a, "out", out);
        if (b != null) Shapes.requireSameShape(op, "a", a, "b", b);
        double[] ad = in(op, a), bd = b == null ? null : in(op, b);
        double[] od = accumulate ? in(op, out) : new double[out.size()];
        int[] map = broadcastIndex(out.shape(), a.shape());
        for (int i = 0; i < ad.length; i++) od[map[i]] += bd == null ? ad[i] : ad[i] * bd[i];
        out(od, out);
    }

    void rope(String op, Tensor x, RopeTables rope, Tensor y, boolean inverse) {
        Shapes.requireRank(op, "x", x, 3);
        Shapes.requireSameShape(op, "x", x, "y", y);
        int n = x.dim(1), c = x.dim(2), d = rope.width();
        Shapes.requireShape(op, "rope.sin", rope.sin(), n, d);
        if (c % d != 0) throw new IllegalArgumentException(op + ": " + c + " channels are not a multiple of the table width " + d);
        double[] yd = new double[x.size()];
        PointwiseKernels.rope(in(op, x), x.dim(0), n, c, in(op, rope.sin()), in(op, rope.cos()), d, inverse, yd);
        out(yd, y);
    }

    void requireFinite(String op, String name, Tensor t, double[] values) {
        for (int i = 0; i < values.length; i++) {
            if (!Double.isFinite(values[i])) {
                throw new ArithmeticException(op + ": " + name + " " + Shapes.str(t) + " holds " + values[i]
                        + " at flat index " + i);
            }
        }
    }

    /** For each element of {@code to} (row-major), the row-major index of the element of {@code from} it reads. */
    static int[] broadcastIndex(int[] from, int[] to) {
        int r = to.length;
        int[] f = Shapes.alignRight(from, r);
        int[] fStrides = new int[r];
        for (int i = r - 1, acc = 1; i >= 0; i--) {
            fStrides[i] = f[i] == 1 ? 0 : acc;
            acc *= f[i];
        }
        int n = 1;
        for (int d : to) n *= d;
        int[] map = new int[n];
        int[] idx = new int[r];
        int off = 0;
        for (int i = 0; i < n; i++) {
            map[i] = off;
            for (int k = r - 1; k >= 0; k--) {
                off += fStrides[k];
                if (++idx[k] < to[k]) break;
                off -= fStrides[k] * to[k];
                idx[k] = 0;
            }
        }
        return map;
    }
}
