package dev.polaformer.numerics.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

import static dev.polaformer.numerics.cpu.Simd.F;
import static dev.polaformer.numerics.cpu.Simd.L;

/**
 * The backward of a broadcast: sums {@code x} (or {@code x ⊙ y}) over the dimensions along which {@code out}
 * has stride 0, for any strides, in double. Serves {@code sumTo}, {@code mulSumTo} and {@code avgPool}.
 *
 * <p>After collapsing ({@link CollapsedLayout}) the outer dimensions split into <em>kept</em> ones (each output
 * element has its own) and <em>reduced</em> ones; the innermost is either kept (a bias gradient: one total per
 * channel) or reduced (a per-sample sum: {@code (B,H,W,C) → (B,1,1,1)}). Two ways to share the work:
 * <ul>
 *   <li>many output units (kept index × block of {@link #COLUMNS} inner elements): each task owns whole units
 *       and sums all of their reduced rows itself, serially;</li>
 *   <li>few output units (a bias gradient over 25,000 tokens): the reduced rows are split across tasks with
 *       {@link RowReduction}, whose partial sums are added in a fixed order.</li>
 * </ul>
 * Either way a float sum holds at most 64 terms before it is added into double.
 */
final class BroadcastReduction {
    private BroadcastReduction() {}

    /** Inner elements per output unit. */
    private static final int COLUMNS = 4096;
    /** Vector iterations summed in float before a row sum is added into double. */
    private static final int FLUSH = RowReduction.BLOCK;
    private static final int SLOT_BLOCK = 3;
    private static final int SLOT_ACC = 1;

    /**
     * {@code out = Σ x(·y) / divisor}, or {@code out += ...} with {@code accumulate}; each output element is
     * rounded to float once.
     *
     * @param shape      the iteration space ({@code x}'s shape)
     * @param y          null for a plain sum
     * @param outStrides {@code out}'s strides over {@code shape}, 0 along the summed dimensions
     */
    static void run(Parallel parallel, int[] shape, float[] x, int xOff, int[] xStrides,
                    float[] y, int yOff, int[] yStrides,
                    float[] out, int outOff, int[] outStrides, boolean accumulate, double divisor) {
        CollapsedLayout l = y == null
                ? CollapsedLayout.of(shape, new int[] {outOff, xOff}, outStrides, xStrides)
                : CollapsedLayout.of(shape, new int[] {outOff, xOff, yOff}, outStrides, xStrides, yStrides);
        Plan plan = new Plan(l, y != null);
        int keptUnits = plan.keptCount * plan.blocks;
        long work = (long) plan.reduceCount * l.inner * plan.keptCount;
        if (keptUnits >= 2 * parallel.threads() || work < (1 << 15)) {
            int minUnits = (int) Math.max(1, (1L << 15) / Math.max(1, (long) plan.reduceCount * plan.blockWidth));
            parallel.forRange(keptUnits, minUnits, (u0, u1) -> {
                for (int u = u0; u < u1; u++) sumUnit(plan, u, x, y, out, accumulate, divisor);
            });
        } else {
            sumAcrossTasks(parallel, plan, x, y, out, accumulate, divisor);
        }
    }

    /** The collapsed loop nest with the outer dimensions sorted into kept and reduced ones. */
    private static final class Plan {
        final int inner;
        final boolean innerKept;
        final int[] keptShape, reducedShape;
        final int[][] keptStrides, reducedStrides;
        final int keptCount, reduceCount;
        final int blocks, blockWidth;
        final int outInnerStride, xInnerStride, yInnerStride;
        final int[] base;

        Plan(CollapsedLayout l, boolean product) {
            int r = l.dims(), ops = product ? 3 : 2;
            inner = l.inner;
            outInnerStride = l.innerStride(0);
            xInnerStride = l.innerStride(1);
            yInnerStride = product ? l.innerStride(2) : 0;
            innerKept = outInnerStride != 0;
            int nk = 0, nr = 0;
            for (int d = 0; d < r - 1; d++) {
                if (l.strides[0][d] != 0) nk++; else nr++;
            }
            keptShape = new int[nk];
            reducedShape = new int[nr];
            keptStrides = new int[ops][nk];
            reducedStrides = new int[ops][nr];
            int ik = 0, ir = 0, kc = 1, rc = 1;
            for (int d = 0; d < r - 1; d++) {
                if (l.strides[0][d] != 0) {
                    keptShape[ik] = l.shape[d];
                    kc *= l.shape[d];
                    for (int k = 0; k < ops; k++) keptStrides[k][ik] = l.strides[k][d];
                    ik++;
                } else {
                    reducedShape[ir] = l.shape[d];
                    rc *= l.shape[d];
                    for (int k = 0; k < ops; k++) reducedStrides[k][ir] = l.strides[k][d];
                    ir++;
                }
            }
            keptCount = kc;
            reduceCount = rc;
            blockWidth = innerKept ? Math.min(inner, COLUMNS) : 1;
            blocks = innerKept ? (inner + blockWidth - 1) / blockWidth : 1;
            base = new int[ops];
            int[] row0 = new int[ops];
            l.rowOffsets(0, row0);
            System.arraycopy(row0, 0, base, 0, ops);
        }

        /** Offsets (out, x[, y]) of the row with kept index {@code k} and reduced index {@code rr}. */
        void offsets(int k, int rr, int[] o) {
            System.arraycopy(base, 0, o, 0, base.length);
            add(keptShape, keptStrides, k, o);
            add(reducedShape, reducedStrides, rr, o);
        }

        private static void add(int[] shape, int[][] strides, int index, int[] o) {
            int r = index;
            for (int d = shape.length - 1; d >= 0 && r > 0; d--) {
                int i = r % shape[d];
                r /= shape[d];
                for (int k = 0; k < o.length; k++) o[k] += i * strides[k][d];
            }
        }
    }

    /** One output unit (kept index, block of inner elements), summed over every reduced row by this thread. */
    private static void sumUnit(Plan p, int unit, float[] x, float[] y, float[] out, boolean accumulate,
                                double divisor) {
        int k = unit / p.blocks, j0 = (unit - k * p.blocks) * p.blockWidth;
        int width = p.innerKept ? Math.min(p.blockWidth, p.inner - j0) : 1;
        double[] acc = Scratch.doubles(SLOT_ACC, width);
        java.util.Arrays.fill(acc, 0, width, 0);
        float[] block = Scratch.floats(SLOT_BLOCK, width);
        java.util.Arrays.fill(block, 0, width, 0f);
        int[] o = new int[y == null ? 2 : 3];
        int inBlock = 0;
        for (int rr = 0; rr < p.reduceCount; rr++) {
            p.offsets(k, rr, o);
            if (p.innerKept) {
                addRow(x, o[1] + j0 * p.xInnerStride, p.xInnerStride, y, y == null ? 0 : o[2] + j0 * p.yInnerStride,
                        p.yInnerStride, block, 0, width);
                if (++inBlock == FLUSH) {
                    RowReduction.flush(block, acc, width);
                    inBlock = 0;
                }
            } else {
                acc[0] += rowSum(x, o[1], p.xInnerStride, y, y == null ? 0 : o[2], p.yInnerStride, p.inner);
            }
        }
        if (p.innerKept) RowReduction.flush(block, acc, width);
        p.offsets(k, 0, o);
        store(out, o[0] + j0 * p.outInnerStride, p.outInnerStride, acc, 0, width, accumulate, divisor);
    }

    /** Few output units: split the reduced rows across tasks, each summing into all units. */
    private static void sumAcrossTasks(Parallel parallel, Plan p, float[] x, float[] y, float[] out,
                                       boolean accumulate, double divisor) {
        int rowWidth = p.innerKept ? p.inner : 1;
        int width = p.keptCount * rowWidth;
        double[] totals = Scratch.takeDoubles(width);
        try {
            int minRows = (int) Math.max(1, 8192 / Math.max(1, (long) p.inner * p.keptCount));
            RowReduction.run(parallel, p.reduceCount, width, minRows, (rr, block, partial) -> {
                int[] o = new int[y == null ? 2 : 3];
                for (int k = 0; k < p.keptCount; k++) {
                    p.offsets(k, rr, o);
                    if (p.innerKept) {
                        addRow(x, o[1], p.xInnerStride, y, y == null ? 0 : o[2], p.yInnerStride, block,
                                k * rowWidth, p.inner);
                    } else {
                        partial[k] += rowSum(x, o[1], p.xInnerStride, y, y == null ? 0 : o[2], p.yInnerStride,
                                p.inner);
                    }
                }
            }, totals);
            int[] o = new int[y == null ? 2 : 3];
            for (int k = 0; k < p.keptCount; k++) {
                p.offsets(k, 0, o);
                store(out, o[0], p.outInnerStride, totals, k * rowWidth, rowWidth, accumulate, divisor);
            }
        } finally {
            Scratch.give(totals);
        }
    }

    /** {@code block[bo..bo+n) += x(·y)} along one row. */
    private static void addRow(float[] x, int xo, int sx, float[] y, int yo, int sy, float[] block, int bo, int n) {
        if (sx == 1 && (y == null || sy == 1)) {
            int i = 0;
            int bound = F.loopBound(n);
            if (y == null) {
                for (; i < bound; i += L) {
                    FloatVector.fromArray(F, block, bo + i).add(FloatVector.fromArray(F, x, xo + i))
                            .intoArray(block, bo + i);
                }
                for (; i < n; i++) block[bo + i] += x[xo + i];
            } else {
                for (; i < bound; i += L) {
                    FloatVector.fromArray(F, x, xo + i).fma(FloatVector.fromArray(F, y, yo + i),
                            FloatVector.fromArray(F, block, bo + i)).intoArray(block, bo + i);
                }
                for (; i < n; i++) block[bo + i] += x[xo + i] * y[yo + i];
            }
        } else if (y == null) {
            for (int i = 0; i < n; i++) block[bo + i] += x[xo + i * sx];
        } else {
            for (int i = 0; i < n; i++) block[bo + i] += x[xo + i * sx] * y[yo + i * sy];
        }
    }

    /** {@code Σ x(·y)} along one row, in float runs of at most 64 vectors added into double. */
    private static double rowSum(float[] x, int xo, int sx, float[] y, int yo, int sy, int n) {
        double total = 0;
        if (sx == 1 && (y == null || sy == 1)) {
            int bound = F.loopBound(n), i = 0;
            while (i < bound) {
                int end = Math.min(bound, i + FLUSH * L);
                FloatVector acc = FloatVector.zero(F);
                if (y == null) {
                    for (; i < end; i += L) acc = acc.add(FloatVector.fromArray(F, x, xo + i));
                } else {
                    for (; i < end; i += L) {
                        acc = FloatVector.fromArray(F, x, xo + i).fma(FloatVector.fromArray(F, y, yo + i), acc);
                    }
                }
                total += VectorMath.sum(acc);
            }
            for (; i < n; i++) total += y == null ? x[xo + i] : (double) x[xo + i] * y[yo + i];
        } else {
            for (int i = 0; i < n; i++) {
                total += y == null ? x[xo + i * sx] : (double) x[xo + i * sx] * y[yo + i * sy];
            }
        }
        return total;
    }

    private static void store(float[] out, int o, int stride, double[] values, int vo, int n, boolean accumulate,
                              double divisor) {
        for (int j = 0; j < n; j++, o += stride) {
            double v = values[vo + j] / divisor;
            out[o] = (float) (accumulate ? out[o] + v : v);
        }
    }
}
