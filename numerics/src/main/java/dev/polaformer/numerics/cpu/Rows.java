package dev.polaformer.numerics.cpu;

import dev.polaformer.numerics.Tensor;

/**
 * Parallel visits of the rows (the last dimension) of same-shaped tensors of any strides, for the ops that work
 * row by row (softmax, RoPE). A row that is not contiguous can be copied in and out with {@link #gather} and
 * {@link #scatter}.
 */
final class Rows {
    private Rows() {}

    @FunctionalInterface
    interface Body {
        /** Row {@code row}; {@code offsets[k]} is where tensor k's row starts (reused between calls). */
        void row(int row, int[] offsets);
    }

    /** Number of rows of {@code t}: all elements over the last dimension's length (1 row for a scalar). */
    static int count(Tensor t) {
        if (t.rank() == 0) return 1;
        int n = t.dim(-1);
        return n == 0 ? 0 : t.size() / n;
    }

    /** Length of a row: the last dimension (1 for a scalar). */
    static int length(Tensor t) {
        return t.rank() == 0 ? 1 : t.dim(-1);
    }

    /** Stride along a row (1 for a scalar). */
    static int stride(Tensor t) {
        return t.rank() == 0 ? 1 : t.stride(-1);
    }

    /** Runs {@code body} for every row of the tensors (all of {@code tensors[0]}'s shape), in parallel. */
    static void forEach(Parallel parallel, int minRows, Body body, Tensor... tensors) {
        Tensor first = tensors[0];
        int rows = count(first);
        if (rows == 0 || length(first) == 0) return;
        int outer = Math.max(0, first.rank() - 1);
        int[] shape = java.util.Arrays.copyOf(first.shape(), outer);
        int[] offsets = new int[tensors.length];
        int[][] strides = new int[tensors.length][];
        for (int k = 0; k < tensors.length; k++) {
            offsets[k] = tensors[k].offset();
            strides[k] = java.util.Arrays.copyOf(tensors[k].strides(), outer);
        }
        CollapsedLayout layout = CollapsedLayout.of(shape, offsets, strides);
        parallel.forRange(rows, Math.max(1, minRows), (r0, r1) -> {
            int[] o = Scratch.ints(0, tensors.length);
            for (int r = r0; r < r1; r++) {
                layout.elementOffsets(r, o);
                body.row(r, o);
            }
        });
    }

    /** Copies {@code n} elements with stride {@code stride} from {@code src[start..]} into {@code dst[0..n)}. */
    static void gather(float[] src, int start, int stride, float[] dst, int n) {
        for (int i = 0, s = start; i < n; i++, s += stride) dst[i] = src[s];
    }

    /** The inverse of {@link #gather}. */
    static void scatter(float[] src, float[] dst, int start, int stride, int n) {
        for (int i = 0, d = start; i < n; i++, d += stride) dst[d] = src[i];
    }
}
