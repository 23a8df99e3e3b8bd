package dev.polaformer.numerics.cpu;

/**
 * Runs an elementwise kernel over the rows of a {@link CollapsedLayout}, in parallel.
 *
 * <p>Kernels are written once, for contiguous runs: {@link Kernel#run} gets up to two input runs and one
 * output run of {@code n} elements each. Operand 0 of the layout is the output, 1 and 2 the inputs. A row of
 * an operand that is not contiguous (a strided view's column, or a broadcast operand with stride 0 along the
 * row) is first gathered into a per-thread buffer, and a strided output is computed into one and scattered;
 * so every view works, and the common contiguous case pays nothing for it.
 *
 * <p>Work is cut into pieces of at most {@link #PIECE} elements (long rows are split) and handed to
 * {@link Parallel#forRange}, which keeps small tensors on the calling thread.
 */
final class Elementwise {
    private Elementwise() {}

    /** Elements per piece of work; a multiple of every vector width. */
    static final int PIECE = 1 << 14;
    /** Elements below which splitting the work across threads costs more than it saves. */
    private static final int MIN_PARALLEL = 1 << 15;
    /** Gathered runs are processed in blocks of this many elements, to keep the buffers in L1. */
    private static final int GATHER_BLOCK = 1024;

    /** A kernel over contiguous runs: {@code out[oo..oo+n) = f(a[ao..], b[bo..])}; {@code b} may be unused. */
    @FunctionalInterface
    interface Kernel {
        void run(float[] a, int ao, float[] b, int bo, float[] out, int oo, int n);
    }

    /**
     * @param out the output array (operand 0 of {@code layout}); may be the same memory as {@code a}
     * @param b   the second input (operand 2), or null for a one-input kernel (then the layout has 2 operands)
     */
    static void run(Parallel parallel, CollapsedLayout layout, float[] out, float[] a, float[] b, Kernel kernel) {
        int inner = layout.inner, rows = layout.rows;
        if (inner == 0 || rows == 0) return;
        int piece = Math.min(inner, PIECE);
        int perRow = (inner + piece - 1) / piece;
        long total = (long) rows * perRow;
        if (total > Integer.MAX_VALUE) throw new IllegalStateException("tensor too large to split: " + total);
        int minPieces = Math.max(1, MIN_PARALLEL / piece);
        boolean contiguous = layout.innerStride(0) == 1 && layout.innerStride(1) == 1
                && (b == null || layout.innerStride(2) == 1);
        parallel.forRange((int) total, minPieces, (p0, p1) -> {
            int[] offsets = Scratch.ints(0, 3);
            int lastRow = -1;
            for (int p = p0; p < p1; p++) {
                int row = p / perRow, j0 = (p - row * perRow) * piece, n = Math.min(piece, inner - j0);
                if (row != lastRow) {
                    layout.rowOffsets(row, offsets);
                    lastRow = row;
                }
                if (contiguous) {
                    kernel.run(a, offsets[1] + j0, b, b == null ? 0 : offsets[2] + j0, out, offsets[0] + j0, n);
                } else {
                    gathered(layout, offsets, j0, n, out, a, b, kernel);
                }
            }
        });
    }

    /**
     * {@code out[oo..oo+n) = f(a[ao..], b[bo..])} over contiguous arrays ({@code b} null for one input), cut into
     * pieces for the threads: the common case, without a layout.
     */
    static void flat(Parallel parallel, int n, float[] out, int oo, float[] a, int ao, float[] b, int bo, Kernel kernel) {
        if (n == 0) return;
        int piece = n < MIN_PARALLEL || parallel.threads() == 1 ? n : PIECE;
        parallel.forEach((n + piece - 1) / piece, p -> {
            int j = p * piece;
            kernel.run(a, ao + j, b, b == null ? 0 : bo + j, out, oo + j, Math.min(piece, n - j));
        });
    }

    /**
     * {@code out[r][j] = f(a[r][j], b[j])} over {@code rows} contiguous rows of {@code width}: a vector of
     * {@code width} broadcast over the rows (a bias), whole rows per task.
     */
    static void rows(Parallel parallel, int rows, int width, float[] out, int oo, float[] a, int ao, float[] b, int bo,
                     Kernel kernel) {
        long n = (long) rows * width;
        int rowsPerPiece = n < MIN_PARALLEL || parallel.threads() == 1 ? rows : Math.max(1, PIECE / width);
        int pieces = (rows + rowsPerPiece - 1) / rowsPerPiece;
        parallel.forEach(pieces, p -> {
            for (int r = p * rowsPerPiece, end = Math.min(rows, r + rowsPerPiece); r < end; r++) {
                kernel.run(a, ao + r * width, b, bo, out, oo + r * width, width);
            }
        });
    }

    /** The slow path for strided or broadcast rows: copy in, run the kernel on the copies, copy out. */
    private static void gathered(CollapsedLayout layout, int[] offsets, int j0, int n, float[] out, float[] a,
                                 float[] b, Kernel kernel) {
        int so = layout.innerStride(0), sa = layout.innerStride(1), sb = b == null ? 1 : layout.innerStride(2);
        float[] ga = Scratch.floats(0, GATHER_BLOCK), gb = Scratch.floats(1, GATHER_BLOCK);
        float[] go = Scratch.floats(2, GATHER_BLOCK);
        for (int j = j0; j < j0 + n; j += GATHER_BLOCK) {
            int m = Math.min(GATHER_BLOCK, j0 + n - j);
            float[] ra = a;
            int ra0 = offsets[1] + j;
            if (sa != 1) {
                gather(a, offsets[1] + j * sa, sa, ga, m);
                ra = ga;
                ra0 = 0;
            }
            float[] rb = b;
            int rb0 = b == null ? 0 : offsets[2] + j;
            if (b != null && sb != 1) {
                gather(b, offsets[2] + j * sb, sb, gb, m);
                rb = gb;
                rb0 = 0;
            }
            if (so == 1) {
                kernel.run(ra, ra0, rb, rb0, out, offsets[0] + j, m);
            } else {
                kernel.run(ra, ra0, rb, rb0, go, 0, m);
                int o = offsets[0] + j * so;
                for (int i = 0; i < m; i++, o += so) out[o] = go[i];
            }
        }
    }

    private static void gather(float[] src, int start, int stride, float[] dst, int m) {
        if (stride == 0) {
            java.util.Arrays.fill(dst, 0, m, src[start]);
            return;
        }
        for (int i = 0, s = start; i < m; i++, s += stride) dst[i] = src[s];
    }
}
