package dev.polaformer.numerics.cpu;

import dev.polaformer.numerics.Tensor;

/**
 * The loop nest that several operands of one elementwise op or reduction share, made as short as possible:
 * dimensions of size 1 are dropped and two neighbours merged wherever every operand steps through them as one
 * evenly strided run. A contiguous tensor becomes a single row; {@code (B,N,C) + (C)} becomes {@code B·N} rows
 * of {@code C}; {@code (B,H,W,C) ⊙ (B,1,1,1)} becomes {@code B} rows of {@code H·W·C} along which the second
 * operand has stride 0.
 *
 * <p>The result is always at least one-dimensional: {@link #rows} rows of {@link #inner} elements. Operand
 * {@code k}'s row {@code r} starts at {@link #rowOffsets} and steps by {@link #innerStride}{@code (k)} (0 for an
 * operand broadcast along the row, 1 for the common contiguous case).
 */
final class CollapsedLayout {
    final int[] shape;
    final int[][] strides;
    private final int[] base;
    final int rows;
    final int inner;

    private CollapsedLayout(int[] shape, int[][] strides, int[] base) {
        this.shape = shape;
        this.strides = strides;
        this.base = base;
        this.inner = shape[shape.length - 1];
        int r = 1;
        for (int d = 0; d < shape.length - 1; d++) r *= shape[d];
        this.rows = r;
    }

    /**
     * @param shape   the iteration space (the largest operand's shape)
     * @param offsets each operand's first element
     * @param strides each operand's strides over {@code shape}, 0 where it is broadcast
     */
    static CollapsedLayout of(int[] shape, int[] offsets, int[]... strides) {
        int ops = strides.length, r = shape.length;
        int[] s = new int[Math.max(1, r)];
        int[][] st = new int[ops][s.length];
        int n = 0;
        for (int d = 0; d < r; d++) {
            if (shape[d] == 1) continue;
            if (n > 0 && continues(st, n - 1, strides, d, shape[d])) {
                // the previous kept dimension continues into this one for every operand
                s[n - 1] *= shape[d];
                for (int k = 0; k < ops; k++) st[k][n - 1] = strides[k][d];
            } else {
                s[n] = shape[d];
                for (int k = 0; k < ops; k++) st[k][n] = strides[k][d];
                n++;
            }
        }
        if (n == 0) {
            // a single element (or a rank-0 tensor): one row of one
            s[0] = 1;
            n = 1;
            for (int k = 0; k < ops; k++) st[k][0] = 1;
        }
        int[] shapeOut = java.util.Arrays.copyOf(s, n);
        int[][] stridesOut = new int[ops][];
        for (int k = 0; k < ops; k++) stridesOut[k] = java.util.Arrays.copyOf(st[k], n);
        return new CollapsedLayout(shapeOut, stridesOut, offsets.clone());
    }

    /**
     * True when, for every operand, stepping the collapsed dimension {@code prev} once is the same as stepping
     * over all {@code size} positions of dimension {@code d}, so the two can be one loop.
     */
    private static boolean continues(int[][] collapsed, int prev, int[][] strides, int d, int size) {
        for (int k = 0; k < strides.length; k++) {
            if ((long) collapsed[k][prev] != (long) strides[k][d] * size) return false;
        }
        return true;
    }

    /** The strides of {@code t} viewed in the iteration space {@code shape} it broadcasts to (0 where it repeats). */
    static int[] broadcastStrides(Tensor t, int[] shape) {
        int r = shape.length, tr = t.rank();
        int[] out = new int[r];
        for (int i = 1; i <= Math.min(r, tr); i++) {
            out[r - i] = t.dim(tr - i) == 1 ? 0 : t.stride(tr - i);
        }
        return out;
    }

    int dims() {
        return shape.length;
    }

    int innerStride(int operand) {
        return strides[operand][shape.length - 1];
    }

    /** Writes into {@code out[k]} where element {@code index} (row-major over {@link #shape}) of operand k lies. */
    void elementOffsets(int index, int[] out) {
        for (int k = 0; k < base.length; k++) out[k] = base[k];
        int r = index;
        for (int d = shape.length - 1; d >= 0 && r > 0; d--) {
            int i = r % shape[d];
            r /= shape[d];
            for (int k = 0; k < base.length; k++) out[k] += i * strides[k][d];
        }
    }

    /** Writes into {@code out[k]} where row {@code row} of operand {@code k} starts. */
    void rowOffsets(int row, int[] out) {
        for (int k = 0; k < base.length; k++) out[k] = base[k];
        int r = row;
        for (int d = shape.length - 2; d >= 0 && r > 0; d--) {
            int i = r % shape[d];
            r /= shape[d];
            for (int k = 0; k < base.length; k++) out[k] += i * strides[k][d];
        }
    }
}
