package dev.polaformer.numerics.cpu;

import dev.polaformer.numerics.HeapMemory;
import dev.polaformer.numerics.NormGeometry;
import dev.polaformer.numerics.Shapes;
import dev.polaformer.numerics.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;

import static dev.polaformer.numerics.cpu.Simd.F;
import static dev.polaformer.numerics.cpu.Simd.L;

/**
 * LayerNorm and BatchNorm over the last (channel) dimension, channels-last, vectorised along the channels.
 *
 * <p><b>LayerNorm</b> normalises each row of {@code C ≤ 640} values: the statistics are float vector sums within
 * the row, parallel over rows. The variance is taken from centred values and corrected by their residual mean
 * ({@code var = Σd²/C − (Σd/C)²}, {@code d = x − mean₀}), so a large mean does not eat the variance's digits.
 * Its backward sums {@code dGamma}, {@code dBeta} over all rows with {@link RowReduction} (double).
 *
 * <p><b>BatchNorm</b> statistics run over every row (B·H·W, 25,000 and more) for each channel: one pass for the
 * mean and one for the centred second moment, both {@link RowReduction}s in double. The mean is kept as a
 * float pair (high, low) while normalising, so {@code x − μ} is as exact as in double even when |μ| ≫ σ.
 *
 * <p>Per-channel vectors ({@code gamma}, {@code beta}, statistics) may be strided views: they are short and are
 * copied when they are not contiguous. Parameter gradients are accumulated, input gradients overwritten, and any
 * of them may be null, as {@link dev.polaformer.numerics.Backend} specifies.
 */
final class CpuNormalization {
    /** Scratch slot of the lane sums (RowReduction's block uses slot 3). */
    private static final int LANES_SLOT = 0;

    private final HeapMemory memory;
    private final Parallel parallel;

    CpuNormalization(HeapMemory memory, Parallel parallel) {
        this.memory = memory;
        this.parallel = parallel;
    }

    /** A per-channel vector as an array and an offset (a copy when the tensor is strided). */
    private record Channels(float[] a, int o) {}

    private Channels channels(String op, Tensor t) {
        float[] a = memory.array(op, t);
        return t.isContiguous() ? new Channels(a, t.offset()) : new Channels(t.toArray(), 0);
    }

    // ================================================================ LayerNorm

    void layerNorm(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor y, Tensor mean, Tensor rstd) {
        String op = "layerNorm";
        NormGeometry g = NormGeometry.rows(op, x, gamma, beta, y, mean, rstd);
        Shapes.requireNonNull(op, "beta", beta);
        int rows = g.rows(), c = g.channels();
        float[] xa = memory.array(op, x), ya = memory.array(op, y);
        Channels ga = channels(op, gamma), ba = channels(op, beta);
        float[] ma = mean == null ? null : memory.array(op, mean), ra = rstd == null ? null : memory.array(op, rstd);
        int mo = mean == null ? 0 : mean.offset(), ms = mean == null ? 0 : mean.stride(0);
        int ro = rstd == null ? 0 : rstd.offset(), rs = rstd == null ? 0 : rstd.stride(0);
        if (c == 0) return;
        int xo = x.offset(), yo = y.offset();
        parallel.forRange(rows, Math.max(1, 4096 / c), (r0, r1) ->
                layerNormRows(xa, xo, c, eps, ga.a, ga.o, ba.a, ba.o, ya, yo, ma, mo, ms, ra, ro, rs, r0, r1));
    }

    /** Rows normalised together by {@link #layerNormRows}. */
    private static final int ROW_BLOCK = 8;

    /**
     * Normalises rows {@code [r0, r1)} of {@code c} channels; stores each row's mean and rstd where those arrays are
     * not null. Per row: the mean in float, then the variance around it with a correction of the mean (two passes,
     * no cancellation), in double. The horizontal sums add their lanes one after the other (the same bits in every
     * JIT tier), a chain of {@code L} dependent additions; the rows of a block go through each step together, so
     * that their chains overlap instead of following each other (a row of 32 channels took 180 cycles alone).
     */
    private static void layerNormRows(float[] x, int xo, int c, float eps, float[] gamma, int go, float[] beta,
                                      int bo, float[] y, int yo, float[] mean, int mo, int ms, float[] rstdOut, int ro,
                                      int rs, int r0, int r1) {
        // per row of the block: the lanes of its sum, of Σd and of Σd² (d = x − mean₀), then mean₀
        float[] lanes = Scratch.floats(LANES_SLOT, 3 * ROW_BLOCK * L + ROW_BLOCK);
        int sums = 0, s1At = ROW_BLOCK * L, s2At = 2 * ROW_BLOCK * L, mean0At = 3 * ROW_BLOCK * L;
        for (int first = r0; first < r1; first += ROW_BLOCK) {
            int rows = Math.min(ROW_BLOCK, r1 - first);
            for (int i = 0; i < rows; i++) {
                int row = xo + (first + i) * c;
                FloatVector acc = FloatVector.zero(F);
                for (int j = 0; j < c; j += L) acc = acc.add(FloatVector.fromArray(F, x, row + j, F.indexInRange(j, c)));
                acc.intoArray(lanes, sums + i * L);
            }
            for (int i = 0; i < rows; i++) lanes[mean0At + i] = VectorMath.sum(lanes, sums + i * L) / c;
            for (int i = 0; i < rows; i++) {
                int row = xo + (first + i) * c;
                float mean0 = lanes[mean0At + i];
                FloatVector s1 = FloatVector.zero(F), s2 = FloatVector.zero(F);
                for (int j = 0; j < c; j += L) {
                    VectorMask<Float> m = F.indexInRange(j, c);
                    // masked, so the lanes past the row stay 0 instead of −mean₀
                    FloatVector d = FloatVector.fromArray(F, x, row + j, m).lanewise(VectorOperators.SUB, mean0, m);
                    s1 = s1.add(d);
                    s2 = d.fma(d, s2);
                }
                s1.intoArray(lanes, s1At + i * L);
                s2.intoArray(lanes, s2At + i * L);
            }
            for (int i = 0; i < rows; i++) {
                int r = first + i;
                double shift = (double) VectorMath.sum(lanes, s1At + i * L) / c;
                double var = Math.max(0, (double) VectorMath.sum(lanes, s2At + i * L) / c - shift * shift);
                double mu = lanes[mean0At + i] + shift, rstd = 1 / Math.sqrt(var + eps);
                normalise(x, xo + r * c, c, mu, (float) rstd, gamma, go, beta, bo, y, yo + r * c);
                if (mean != null) mean[mo + r * ms] = (float) mu;
                if (rstdOut != null) rstdOut[ro + r * rs] = (float) rstd;
            }
        }
    }

    /** {@code y = (x − mu)·rstd·gamma + beta} along one row, with mu split into two floats for exactness. */
    private static void normalise(float[] x, int xo, int c, double mu, float rstd, float[] gamma, int go,
                                  float[] beta, int bo, float[] y, int yo) {
        float hi = (float) mu, lo = (float) (mu - hi);
        for (int j = 0; j < c; j += L) {
            VectorMask<Float> m = F.indexInRange(j, c);
            FloatVector xh = FloatVector.fromArray(F, x, xo + j, m).sub(hi).sub(lo).mul(rstd);
            xh.fma(FloatVector.fromArray(F, gamma, go + j, m), FloatVector.fromArray(F, beta, bo + j, m))
                    .intoArray(y, yo + j, m);
        }
    }

    void layerNormBackward(Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dy,
                           Tensor dx, Tensor dGamma, Tensor dBeta) {
        String op = "layerNormBackward";
        NormGeometry g = NormGeometry.rows(op, x, gamma, null, dy, mean, rstd);
        NormGeometry.requireGrads(op, x, gamma, dx, dGamma, dBeta);
        Shapes.requireNonNull(op, "mean", mean);
        Shapes.requireNonNull(op, "rstd", rstd);
        int rows = g.rows(), c = g.channels();
        float[] xa = memory.array(op, x), dya = memory.array(op, dy), dxa = dx == null ? null : memory.array(op, dx);
        Channels ga = channels(op, gamma), mu = channels(op, mean), rs = channels(op, rstd);
        if (c == 0 || rows == 0) return;
        int xo = x.offset(), dyo = dy.offset(), dxo = dx == null ? 0 : dx.offset();
        boolean params = dGamma != null || dBeta != null;
        if (!params) {
            if (dxa == null) return;
            parallel.forRange(rows, Math.max(1, 4096 / c), (r0, r1) -> {
                float[] lanes = Scratch.floats(LANES_SLOT, 2 * L);
                for (int r = r0; r < r1; r++) {
                    layerNormBackwardRow(xa, xo + r * c, dya, dyo + r * c, c, ga.a, ga.o, mu.a[mu.o + r],
                            rs.a[rs.o + r], dxa, dxo + r * c, null, lanes);
                }
            });
            return;
        }
        double[] totals = Scratch.takeDoubles(2 * c);
        try {
            RowReduction.run(parallel, rows, 2 * c, Math.max(1, 2048 / c), (r, block, partial) ->
                    layerNormBackwardRow(xa, xo + r * c, dya, dyo + r * c, c, ga.a, ga.o, mu.a[mu.o + r],
                            rs.a[rs.o + r], dxa, dxo + r * c, block, Scratch.floats(LANES_SLOT, 2 * L)), totals);
            accumulate(op, dGamma, totals, 0);
            accumulate(op, dBeta, totals, c);
        } finally {
            Scratch.give(totals);
        }
    }

    /**
     * One row of the LayerNorm backward: {@code dx = rstd·(g − mean(g) − x̂·mean(g·x̂))} with {@code g = dy·gamma};
     * adds {@code dy·x̂} into {@code block[0..c)} and {@code dy} into {@code block[c..2c)} when block is not null.
     * {@code lanes} (2·L floats) is scratch. The passes are separate methods (the row is in L1 after the first):
     * as one method, its masked vector calls ran C1 out of virtual registers, and a method C1 gives up on can
     * stay un-intrinsified for the whole run. The sums leave their vectors through {@code lanes}, not through a
     * call: see {@link VectorMath}.
     */
    private static void layerNormBackwardRow(float[] x, int xo, float[] dy, int dyo, int c, float[] gamma, int go,
                                             float mu, float rstd, float[] dx, int dxo, float[] block, float[] lanes) {
        if (block != null) addParameterGradients(x, xo, dy, dyo, c, mu, rstd, block);
        if (dx == null) return;
        gradientSums(x, xo, dy, dyo, c, gamma, go, mu, rstd, lanes);
        float meanG = VectorMath.sum(lanes, 0) / c, meanGX = VectorMath.sum(lanes, L) / c;
        for (int j = 0; j < c; j += L) {
            VectorMask<Float> m = F.indexInRange(j, c);
            FloatVector xh = FloatVector.fromArray(F, x, xo + j, m).sub(mu).mul(rstd);
            FloatVector gv = FloatVector.fromArray(F, dy, dyo + j, m).mul(FloatVector.fromArray(F, gamma, go + j, m));
            gv.sub(meanG).sub(xh.mul(meanGX)).mul(rstd).intoArray(dx, dxo + j, m);
        }
    }

    /** {@code block[0..c) += dy·x̂}, {@code block[c..2c) += dy}. */
    private static void addParameterGradients(float[] x, int xo, float[] dy, int dyo, int c, float mu, float rstd,
                                              float[] block) {
        for (int j = 0; j < c; j += L) {
            VectorMask<Float> m = F.indexInRange(j, c);
            FloatVector xh = FloatVector.fromArray(F, x, xo + j, m).sub(mu).mul(rstd);
            FloatVector d = FloatVector.fromArray(F, dy, dyo + j, m);
            d.fma(xh, FloatVector.fromArray(F, block, j, m)).intoArray(block, j, m);
            d.add(FloatVector.fromArray(F, block, c + j, m)).intoArray(block, c + j, m);
        }
    }

    /**
     * The lane sums of {@code g = dy·gamma} into {@code lanes[0..L)} and of {@code g·x̂} into {@code lanes[L..2L)}
     * (lanes past the row add 0).
     */
    private static void gradientSums(float[] x, int xo, float[] dy, int dyo, int c, float[] gamma, int go, float mu,
                                     float rstd, float[] lanes) {
        FloatVector sg = FloatVector.zero(F), sgx = FloatVector.zero(F);
        for (int j = 0; j < c; j += L) {
            VectorMask<Float> m = F.indexInRange(j, c);
            FloatVector xh = FloatVector.fromArray(F, x, xo + j, m).sub(mu).mul(rstd);
            FloatVector gv = FloatVector.fromArray(F, dy, dyo + j, m).mul(FloatVector.fromArray(F, gamma, go + j, m));
            sg = sg.add(gv);
            sgx = gv.fma(xh, sgx);
        }
        sg.intoArray(lanes, 0);
        sgx.intoArray(lanes, L);
    }

    // ================================================================ BatchNorm

    void batchNormTrain(Tensor x, Tensor gamma, Tensor beta, float eps, float momentum, Tensor y, Tensor mean,
                        Tensor rstd, Tensor runningMean, Tensor runningVar) {
        String op = "batchNormTrain";
        NormGeometry g = NormGeometry.columns(op, x, gamma, beta, y, mean, rstd, runningMean, runningVar);
        Shapes.requireNonNull(op, "beta", beta);
        int rows = g.rows(), c = g.channels();
        float[] xa = memory.array(op, x), ya = memory.array(op, y);
        Channels ga = channels(op, gamma), ba = channels(op, beta);
        if (c == 0) return;
        int xo = x.offset();
        int minRows = Math.max(1, 4096 / c);
        // pass 1: the mean, to centre pass 2
        double[] sums = Scratch.takeDoubles(2 * c);
        float[] centre = new float[c], hi = new float[c], lo = new float[c], scale = new float[c];
        try {
            RowReduction.run(parallel, rows, c, minRows, (r, block, partial) -> addRow(xa, xo + r * c, block, c), sums);
            for (int j = 0; j < c; j++) centre[j] = (float) (sums[j] / rows);
            // pass 2: Σd and Σd² with d = x − centre
            java.util.Arrays.fill(sums, 0);
            RowReduction.run(parallel, rows, 2 * c, minRows,
                    (r, block, partial) -> addCentredMoments(xa, xo + r * c, centre, block, c), sums);
            float[] meanA = mean == null ? null : memory.array(op, mean), rstdA = rstd == null ? null : memory.array(op, rstd);
            float[] rmA = runningMean == null ? null : memory.array(op, runningMean);
            float[] rvA = runningVar == null ? null : memory.array(op, runningVar);
            for (int j = 0; j < c; j++) {
                double shift = sums[j] / rows;
                double mu = centre[j] + shift;
                double ss = Math.max(0, sums[c + j] - sums[j] * shift);   // Σ(x − μ)²
                double rs = 1 / Math.sqrt(ss / rows + eps);
                hi[j] = (float) mu;
                lo[j] = (float) (mu - hi[j]);
                scale[j] = (float) (rs * ga.a[ga.o + j]);
                if (meanA != null) meanA[mean.offset() + j] = (float) mu;
                if (rstdA != null) rstdA[rstd.offset() + j] = (float) rs;
                if (rmA != null) {
                    int o = runningMean.offset() + j;
                    rmA[o] = (float) ((1 - (double) momentum) * rmA[o] + momentum * mu);
                }
                if (rvA != null) {
                    int o = runningVar.offset() + j;
                    rvA[o] = (float) ((1 - (double) momentum) * rvA[o] + momentum * (ss / (rows - 1)));
                }
            }
        } finally {
            Scratch.give(sums);
        }
        int yo = y.offset();
        parallel.forRange(rows, minRows, (r0, r1) -> {
            for (int r = r0; r < r1; r++) affine(xa, xo + r * c, hi, lo, scale, ba.a, ba.o, ya, yo + r * c, c);
        });
    }

    void batchNormEval(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar, float eps, Tensor y) {
        String op = "batchNormEval";
        NormGeometry g = NormGeometry.columns(op, x, gamma, beta, y, null, null, runningMean, runningVar);
        Shapes.requireNonNull(op, "beta", beta);
        Shapes.requireNonNull(op, "runningMean", runningMean);
        Shapes.requireNonNull(op, "runningVar", runningVar);
        int rows = g.rows(), c = g.channels();
        float[] xa = memory.array(op, x), ya = memory.array(op, y);
        Channels ga = channels(op, gamma), ba = channels(op, beta);
        float[] rm = memory.array(op, runningMean), rv = memory.array(op, runningVar);
        float[] hi = new float[c], lo = new float[c], scale = new float[c];
        for (int j = 0; j < c; j++) {
            hi[j] = rm[runningMean.offset() + j];
            scale[j] = (float) (ga.a[ga.o + j] / Math.sqrt((double) rv[runningVar.offset() + j] + eps));
        }
        int xo = x.offset(), yo = y.offset();
        parallel.forRange(rows, Math.max(1, 4096 / Math.max(1, c)), (r0, r1) -> {
            for (int r = r0; r < r1; r++) affine(xa, xo + r * c, hi, lo, scale, ba.a, ba.o, ya, yo + r * c, c);
        });
    }

    void batchNormBackward(Tensor x, Tensor gamma, Tensor mean, Tensor rstd, boolean batchStatistics, Tensor dy,
                           Tensor dx, Tensor dGamma, Tensor dBeta) {
        String op = "batchNormBackward";
        NormGeometry g = NormGeometry.columns(op, x, gamma, null, dy, mean, rstd, null, null);
        NormGeometry.requireGrads(op, x, gamma, dx, dGamma, dBeta);
        Shapes.requireNonNull(op, "mean", mean);
        Shapes.requireNonNull(op, "rstd", rstd);
        int rows = g.rows(), c = g.channels();
        float[] xa = memory.array(op, x), dya = memory.array(op, dy), dxa = dx == null ? null : memory.array(op, dx);
        Channels ga = channels(op, gamma);
        float[] mu = memory.array(op, mean), rs = memory.array(op, rstd);
        int xo = x.offset(), dyo = dy.offset(), muo = mean.offset(), rso = rstd.offset();
        int minRows = Math.max(1, 4096 / Math.max(1, c));
        float[] centre = new float[c], a = new float[c], b = new float[c], k = new float[c];
        for (int j = 0; j < c; j++) centre[j] = mu[muo + j];
        boolean sums = dGamma != null || dBeta != null || batchStatistics && dx != null;
        if (sums) {
            double[] totals = Scratch.takeDoubles(2 * c);
            try {
                // Σ dy and Σ dy·(x − μ), per channel
                RowReduction.run(parallel, rows, 2 * c, minRows,
                        (r, block, partial) -> addGradientMoments(xa, xo + r * c, dya, dyo + r * c, centre, block, c),
                        totals);
                for (int j = 0; j < c; j++) {
                    double r = rs[rso + j], sumG = totals[j], sumGX = totals[c + j] * r;
                    totals[c + j] = sumGX;
                    b[j] = (float) (sumG / rows);
                    k[j] = (float) (sumGX / rows * r);
                }
                accumulate(op, dGamma, totals, c);
                accumulate(op, dBeta, totals, 0);
            } finally {
                Scratch.give(totals);
            }
        }
        if (dxa == null) return;
        for (int j = 0; j < c; j++) a[j] = ga.a[ga.o + j] * rs[rso + j];
        int dxo = dx.offset();
        parallel.forRange(rows, minRows, (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                batchNormBackwardRow(xa, xo + r * c, dya, dyo + r * c, centre, a, b, k, batchStatistics, dxa,
                        dxo + r * c, c);
            }
        });
    }

    // ================================================================ row kernels

    /** {@code block[0..c) += x}. */
    private static void addRow(float[] x, int xo, float[] block, int c) {
        for (int j = 0; j < c; j += L) {
            VectorMask<Float> m = F.indexInRange(j, c);
            FloatVector.fromArray(F, x, xo + j, m).add(FloatVector.fromArray(F, block, j, m)).intoArray(block, j, m);
        }
    }

    /** {@code block[0..c) += d}, {@code block[c..2c) += d²} with {@code d = x − centre}. */
    private static void addCentredMoments(float[] x, int xo, float[] centre, float[] block, int c) {
        for (int j = 0; j < c; j += L) {
            VectorMask<Float> m = F.indexInRange(j, c);
            FloatVector d = FloatVector.fromArray(F, x, xo + j, m).sub(FloatVector.fromArray(F, centre, j, m));
            d.add(FloatVector.fromArray(F, block, j, m)).intoArray(block, j, m);
            d.fma(d, FloatVector.fromArray(F, block, c + j, m)).intoArray(block, c + j, m);
        }
    }

    /** {@code block[0..c) += dy}, {@code block[c..2c) += dy·(x − μ)}. */
    private static void addGradientMoments(float[] x, int xo, float[] dy, int dyo, float[] mu, float[] block, int c) {
        for (int j = 0; j < c; j += L) {
            VectorMask<Float> m = F.indexInRange(j, c);
            FloatVector d = FloatVector.fromArray(F, x, xo + j, m).sub(FloatVector.fromArray(F, mu, j, m));
            FloatVector g = FloatVector.fromArray(F, dy, dyo + j, m);
            g.add(FloatVector.fromArray(F, block, j, m)).intoArray(block, j, m);
            g.fma(d, FloatVector.fromArray(F, block, c + j, m)).intoArray(block, c + j, m);
        }
    }

    /** {@code y = (x − hi − lo)·scale + beta} along one row. */
    private static void affine(float[] x, int xo, float[] hi, float[] lo, float[] scale, float[] beta, int bo,
                               float[] y, int yo, int c) {
        for (int j = 0; j < c; j += L) {
            VectorMask<Float> m = F.indexInRange(j, c);
            FloatVector v = FloatVector.fromArray(F, x, xo + j, m).sub(FloatVector.fromArray(F, hi, j, m))
                    .sub(FloatVector.fromArray(F, lo, j, m));
            v.fma(FloatVector.fromArray(F, scale, j, m), FloatVector.fromArray(F, beta, bo + j, m))
                    .intoArray(y, yo + j, m);
        }
    }

    /**
     * {@code dx = (dy − b − (x − μ)·k)·a} (batch statistics) or {@code dy·a}, with per-channel
     * {@code a = γ·rstd}, {@code b = Σdy/M}, {@code k = rstd²·Σdy·(x−μ)/M}.
     */
    private static void batchNormBackwardRow(float[] x, int xo, float[] dy, int dyo, float[] mu, float[] a, float[] b,
                                             float[] k, boolean batchStatistics, float[] dx, int dxo, int c) {
        for (int j = 0; j < c; j += L) {
            VectorMask<Float> m = F.indexInRange(j, c);
            FloatVector g = FloatVector.fromArray(F, dy, dyo + j, m);
            if (batchStatistics) {
                FloatVector d = FloatVector.fromArray(F, x, xo + j, m).sub(FloatVector.fromArray(F, mu, j, m));
                g = g.sub(FloatVector.fromArray(F, b, j, m)).sub(d.mul(FloatVector.fromArray(F, k, j, m)));
            }
            g.mul(FloatVector.fromArray(F, a, j, m)).intoArray(dx, dxo + j, m);
        }
    }

    /** {@code grad[j] += totals[from + j]}, rounded once; nothing when grad is null. */
    private void accumulate(String op, Tensor grad, double[] totals, int from) {
        if (grad == null) return;
        float[] a = memory.array(op, grad);
        int o = grad.offset(), s = grad.rank() == 0 ? 0 : grad.stride(0), c = grad.size();
        for (int j = 0; j < c; j++, o += s) a[o] = (float) (a[o] + totals[from + j]);
    }
}
