package dev.polaformer.numerics.cpu;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import static dev.polaformer.numerics.cpu.Simd.F;
import static dev.polaformer.numerics.cpu.Simd.L;

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

    private static final VectorSpecies<Double> D = F.withLanes(double.class);

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
        run(parallel, rows, width, minRows, BLOCK, adder, totals);
    }

    /**
     * As {@link #run(Parallel, int, int, int, RowAdder, double[])}, flushing the float block every
     * {@code blockRows} rows: 1 for rows whose contribution already sums up to 64 terms in float.
     */
    static void run(Parallel parallel, int rows, int width, int minRows, int blockRows, RowAdder adder,
                    double[] totals) {
        if (rows <= 0 || width <= 0) return;
        int tasks = Math.max(1, Math.min(4 * parallel.threads(), rows / Math.max(1, minRows)));
        if (tasks == 1) {
            double[] partial = Scratch.doubles(0, width);
            java.util.Arrays.fill(partial, 0, width, 0);
            sumRange(0, rows, width, blockRows, adder, partial);
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
                sumRange(r0, r1, width, blockRows, adder, partial);
                System.arraycopy(partial, 0, partials, t * width, width);
            });
            for (int t = 0; t < count; t++) {
                for (int j = 0, o = t * width; j < width; j++) totals[j] += partials[o + j];
            }
        } finally {
            Scratch.give(partials);
        }
    }

    private static void sumRange(int r0, int r1, int width, int blockRows, RowAdder adder, double[] partial) {
        float[] block = Scratch.floats(SLOT, width);
        java.util.Arrays.fill(block, 0, width, 0f);
        int inBlock = 0;
        for (int r = r0; r < r1; r++) {
            adder.add(r, block, partial);
            if (++inBlock == blockRows || r == r1 - 1) {
                flush(block, partial, width);
                inBlock = 0;
            }
        }
    }

    /** {@code partial[0..n) += block[0..n)} (widened), and the block zeroed. */
    static void flush(float[] block, double[] partial, int n) {
        FloatVector zero = FloatVector.zero(F);
        int j = 0;
        for (int bound = F.loopBound(n); j < bound; j += L) {
            FloatVector b = FloatVector.fromArray(F, block, j);
            ((DoubleVector) b.convertShape(VectorOperators.F2D, D, 0)).add(DoubleVector.fromArray(D, partial, j))
                    .intoArray(partial, j);
            ((DoubleVector) b.convertShape(VectorOperators.F2D, D, 1)).add(DoubleVector.fromArray(D, partial, j + L / 2))
                    .intoArray(partial, j + L / 2);
            zero.intoArray(block, j);
        }
        for (; j < n; j++) {
            partial[j] += block[j];
            block[j] = 0f;
        }
    }
}
