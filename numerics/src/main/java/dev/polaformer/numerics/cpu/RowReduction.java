package dev.polaformer.numerics.cpu;

/**
 * Sums per-row contributions over many rows into {@code width} double totals, in parallel and in a fixed
 * order (the same inputs and thread count give the same bits).
 *
 * <p>This is the shape of every long reduction here: a bias or LayerNorm-gamma gradient (one total per
 * channel over all tokens), BatchNorm statistics, a depthwise weight gradient. The rows are split into at most
 * {@code 4·threads} contiguous ranges; each range adds its rows into a float block, which is flushed into the
 * range's double partial sum every {@link #BLOCK} rows, so no float sum ever holds more than 64 terms. The
 * partials are then added into the caller's totals in range order.
 */
final class RowReduction {
    private RowReduction() {}

    /** Rows summed in float before the block is added into double. */
    static final int BLOCK = 64;
    /** Scratch slot of the float block (Elementwise uses 0..2). */
    private static final int SLOT = 3;

    /**
     * Adds row {@code row}'s contribution: into {@code block} (float, flushed every {@link #BLOCK} rows) or,
     * for contributions that are themselves long sums, straight into {@code partial} (double).
     */
    @FunctionalInterface
    interface RowAdder {
        void add(int row, float[] block, double[] partial);
    }

    /**
     * {@code totals[0..width) += Σ_rows contribution(row)}.
     *
     * @param minRows rows below which a range is not worth a thread (pass more for cheap rows)
     */
    static void run(Parallel parallel, int rows, int width, int minRows, RowAdder adder, double[] totals) {
        if (rows <= 0 || width <= 0) return;
        int tasks = Math.max(1, Math.min(4 * parallel.threads(), rows / Math.max(1, minRows)));
        if (tasks == 1) {
            double[] partial = Scratch.doubles(0, width);
            java.util.Arrays.fill(partial, 0, width, 0);
            sumRange(0, rows, width, adder, partial);
            for (int j = 0; j < width; j++) totals[j] += partial[j];
            return;
        }
        int size = (rows + tasks - 1) / tasks;
        int count = (rows + size - 1) / size;
        double[] partials = Scratch.takeDoubles(count * width);
        try {
            parallel.forEach(count, t -> {
                int r0 = t * size, r1 = Math.min(rows, r0 + size);
                double[] partial = Scratch.doubles(0, width);
                java.util.Arrays.fill(partial, 0, width, 0);
                sumRange(r0, r1, width, adder, partial);
                System.arraycopy(partial, 0, partials, t * width, width);
            });
            for (int t = 0; t < count; t++) {
                for (int j = 0, o = t * width; j < width; j++) totals[j] += partials[o + j];
            }
        } finally {
            Scratch.give(partials);
        }
    }

    private static void sumRange(int r0, int r1, int width, RowAdder adder, double[] partial) {
        float[] block = Scratch.floats(SLOT, width);
        java.util.Arrays.fill(block, 0, width, 0f);
        int inBlock = 0;
        for (int r = r0; r < r1; r++) {
            adder.add(r, block, partial);
            if (++inBlock == BLOCK || r == r1 - 1) {
                for (int j = 0; j < width; j++) {
                    partial[j] += block[j];
                    block[j] = 0f;
                }
                inBlock = 0;
            }
        }
    }
}
