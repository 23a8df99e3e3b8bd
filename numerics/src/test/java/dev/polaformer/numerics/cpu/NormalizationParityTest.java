package dev.polaformer.numerics.cpu;

import dev.polaformer.numerics.Tensor;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static dev.polaformer.numerics.cpu.CpuParity.CPU;
import static dev.polaformer.numerics.cpu.CpuParity.REF;
import static dev.polaformer.numerics.cpu.CpuParity.assertClose;
import static dev.polaformer.numerics.cpu.CpuParity.assertCloseAbs;
import static dev.polaformer.numerics.cpu.CpuParity.maxAbs;
import static dev.polaformer.numerics.cpu.CpuParity.assertRejects;
import static dev.polaformer.numerics.cpu.CpuParity.assertRejectsReleased;
import static dev.polaformer.numerics.cpu.CpuParity.close;
import static dev.polaformer.numerics.cpu.CpuParity.garbage;
import static dev.polaformer.numerics.cpu.CpuParity.normal;
import static dev.polaformer.numerics.cpu.CpuParity.normalWith;
import static dev.polaformer.numerics.cpu.CpuParity.pair;
import static dev.polaformer.numerics.cpu.CpuParity.shape;
import static dev.polaformer.numerics.cpu.CpuParity.uniform;
import static dev.polaformer.numerics.cpu.CpuParity.zeros;

/**
 * CPU LayerNorm and BatchNorm against the reference backend, forward and backward, over channel counts that are
 * not multiples of the vector width, one-pixel maps, long BatchNorm reductions (8·56·56 rows) and inputs whose
 * mean is large against their spread.
 *
 * <p>Tolerances ({@code absOfMax·max|ref| + rel·|ref|}): the outputs are a handful of float operations on
 * normalised values ({@code y}, {@code dx}) or double sums ({@code mean}, {@code rstd}, the parameter
 * gradients, running statistics): {@code 2e-6·max + 1e-5} covers the few-ulp rounding of the first and the
 * ≤64-term float blocks of the second, and is far below the error of a float-accumulated statistic over
 * 25,000 rows (about 1e-4 relative), so the tests tell the two apart.
 */
class NormalizationParityTest {

    @BeforeEach // per test, so each is reported as skipped (with the reason) where the backend cannot run
    void backendAvailable() {
        CpuParity.assumeAvailable();
    }

    private static final int[] CHANNELS = {1, 3, 7, 16, 17, 33, 64};
    private static final double ABS = 2e-6, REL = 1e-5;
    /**
     * Statistics and dBeta: double sums of float blocks of ≤ 64 rows, rounded once. On zero-mean data the block
     * rounding is about {@code √rows·√64·2⁻²⁴} of the terms, 5e-5 for 12,544 rows of N(0,1) against a
     * largest total of ~170, hence {@code 5e-7·max}; {@link #longSumsKeepFloatPrecision} checks 2 ulp where no
     * cancellation hides an accumulation error.
     */
    private static final double SUM_ABS = 5e-7, SUM_REL = 5e-7;
    /** A double sum rounded once is within 2 ulp of the reference's (which also rounds once). */
    private static final double TWO_ULP = 2.4e-7;

    @Test
    void layerNorm() {
        long seed = 1;
        for (int c : CHANNELS) {
            for (int[] s : new int[][] {{2, 5, c}, {1, 1, 1, c}, {3, 1, 4, c}}) {
                checkLayerNorm(s, seed++, 0.7, 1.3, true);
            }
        }
        checkLayerNorm(new int[] {7, 640}, 50, -2, 3, true);
        // a large mean against a small spread, and a long run of rows for the parameter gradients
        checkLayerNorm(new int[] {9, 96}, 51, 50, 0.1, true);
        // mean/σ = 5·10⁵: the float first-pass mean is off by a good fraction of σ; the variance must not see it
        checkLayerNorm(new int[] {5, 96}, 53, 1000, 2e-3, false);
        checkLayerNorm(new int[] {4, 56, 56, 32}, 52, 0.2, 1, false);
    }

    private static void checkLayerNorm(int[] s, long seed, double mean, double std, boolean nullVariants) {
        int c = s[s.length - 1], rows = 1;
        for (int i = 0; i < s.length - 1; i++) rows *= s[i];
        String what = "layerNorm " + shape(s);
        Tensor[] x = normalWith(seed, mean, std, s), gamma = normalWith(seed + 1, 1, 0.3, c);
        Tensor[] beta = normal(seed + 2, c), y = garbage(s), mu = garbage(rows), rs = garbage(rows);
        REF.layerNorm(x[0], gamma[0], beta[0], 1e-6f, y[0], mu[0], rs[0]);
        CPU.layerNorm(x[1], gamma[1], beta[1], 1e-6f, y[1], mu[1], rs[1]);
        assertClose(what + " y", y, ABS, REL);
        assertClose(what + " mean", mu, SUM_ABS, SUM_REL);
        assertClose(what + " rstd", rs, SUM_ABS, SUM_REL);

        // backward from the same statistics; parameter gradients accumulate onto what is there
        Tensor[] dy = normal(seed + 3, s), dx = garbage(s);
        Tensor[] dGamma = normal(seed + 4, c), dBeta = normal(seed + 5, c);
        Tensor[] stats = {REF.fromArray(mu[0].toArray(), rows), CPU.fromArray(mu[0].toArray(), rows)};
        Tensor[] rstd = {REF.fromArray(rs[0].toArray(), rows), CPU.fromArray(rs[0].toArray(), rows)};
        REF.layerNormBackward(x[0], gamma[0], stats[0], rstd[0], dy[0], dx[0], dGamma[0], dBeta[0]);
        CPU.layerNormBackward(x[1], gamma[1], stats[1], rstd[1], dy[1], dx[1], dGamma[1], dBeta[1]);
        // dx is a difference of terms of size |dy·γ|·rstd, and rounds relative to them
        double terms = maxAbs(dy[0]) * maxAbs(gamma[0]) * maxAbs(rs[0]);
        assertCloseAbs(what + " dx", dx, ABS * terms, REL);
        assertClose(what + " dGamma", dGamma, ABS, REL);
        assertClose(what + " dBeta", dBeta, SUM_ABS, SUM_REL);

        if (nullVariants) {
            // no statistics out; then only dx, then only the parameter gradients
            Tensor[] y2 = garbage(s);
            REF.layerNorm(x[0], gamma[0], beta[0], 1e-6f, y2[0], null, null);
            CPU.layerNorm(x[1], gamma[1], beta[1], 1e-6f, y2[1], null, null);
            assertClose(what + " y without statistics", y2, ABS, REL);
            Tensor[] dx2 = garbage(s);
            REF.layerNormBackward(x[0], gamma[0], stats[0], rstd[0], dy[0], dx2[0], null, null);
            CPU.layerNormBackward(x[1], gamma[1], stats[1], rstd[1], dy[1], dx2[1], null, null);
            assertCloseAbs(what + " dx alone", dx2, ABS * terms, REL);
            REF.layerNormBackward(x[0], gamma[0], stats[0], rstd[0], dy[0], null, null, dBeta[0]);
            CPU.layerNormBackward(x[1], gamma[1], stats[1], rstd[1], dy[1], null, null, dBeta[1]);
            assertClose(what + " dBeta alone, accumulated twice", dBeta, SUM_ABS, SUM_REL);
            close(y2, dx2);
        }
        close(x, gamma, beta, y, mu, rs, dy, dx, dGamma, dBeta, stats, rstd);
    }

    @Test
    void batchNorm() {
        long seed = 100;
        for (int c : CHANNELS) {
            for (int[] s : new int[][] {{2, 3, 5, c}, {4, 1, 1, c}, {2, 1, 1, c}}) {
                checkBatchNorm(s, seed, 0.5, 2);
                seed += 10;
            }
        }
        // BatchNorm statistics over 8·56·56 = 25,088 rows, and a mean far above the spread
        checkBatchNorm(new int[] {8, 56, 56, 16}, 200, 10, 1);
        checkBatchNorm(new int[] {8, 56, 56, 3}, 210, -3, 0.5);
        checkBatchNorm(new int[] {4, 7, 9, 33}, 220, 40, 0.05);
    }

    private static void checkBatchNorm(int[] s, long seed, double mean, double std) {
        int c = s[s.length - 1];
        String what = "batchNorm " + shape(s);
        Tensor[] x = normalWith(seed, mean, std, s), gamma = normalWith(seed + 1, 1, 0.3, c), beta = normal(seed + 2, c);
        Tensor[] y = garbage(s), mu = garbage(c), rs = garbage(c);
        Tensor[] runMean = normal(seed + 3, c), runVar = uniform(seed + 4, 0.5, 2, c);
        REF.batchNormTrain(x[0], gamma[0], beta[0], 1e-5f, 0.1f, y[0], mu[0], rs[0], runMean[0], runVar[0]);
        CPU.batchNormTrain(x[1], gamma[1], beta[1], 1e-5f, 0.1f, y[1], mu[1], rs[1], runMean[1], runVar[1]);
        assertClose(what + " train y", y, ABS, REL);
        assertClose(what + " mean", mu, SUM_ABS, SUM_REL);
        assertClose(what + " rstd", rs, SUM_ABS, SUM_REL);
        assertClose(what + " running mean", runMean, SUM_ABS, SUM_REL);
        assertClose(what + " running var", runVar, SUM_ABS, SUM_REL);

        Tensor[] y2 = garbage(s);
        REF.batchNormTrain(x[0], gamma[0], beta[0], 1e-5f, 0.1f, y2[0], null, null, null, null);
        CPU.batchNormTrain(x[1], gamma[1], beta[1], 1e-5f, 0.1f, y2[1], null, null, null, null);
        assertClose(what + " train y without statistics", y2, ABS, REL);

        Tensor[] ye = garbage(s);
        REF.batchNormEval(x[0], gamma[0], beta[0], runMean[0], runVar[0], 1e-5f, ye[0]);
        CPU.batchNormEval(x[1], gamma[1], beta[1], runMean[1], runVar[1], 1e-5f, ye[1]);
        assertClose(what + " eval y", ye, ABS, REL);

        // backward in both modes, from identical statistics
        Tensor[] dy = normal(seed + 5, s);
        Tensor[] stats = pair(mu[0].toArray(), c), rstd = pair(rs[0].toArray(), c);
        // dx is a difference of terms of size |dy·γ|·rstd (over two samples it is ~0), and rounds relative to them
        double terms = maxAbs(dy[0]) * maxAbs(gamma[0]) * maxAbs(rs[0]);
        for (boolean batch : new boolean[] {true, false}) {
            String mode = batch ? " train" : " eval";
            Tensor[] dx = garbage(s), dGamma = normal(seed + 6, c), dBeta = normal(seed + 7, c);
            REF.batchNormBackward(x[0], gamma[0], stats[0], rstd[0], batch, dy[0], dx[0], dGamma[0], dBeta[0]);
            CPU.batchNormBackward(x[1], gamma[1], stats[1], rstd[1], batch, dy[1], dx[1], dGamma[1], dBeta[1]);
            assertCloseAbs(what + mode + " dx", dx, ABS * terms, REL);
            assertClose(what + mode + " dGamma", dGamma, ABS, REL);
            assertClose(what + mode + " dBeta", dBeta, SUM_ABS, SUM_REL);
            Tensor[] dx2 = garbage(s);
            REF.batchNormBackward(x[0], gamma[0], stats[0], rstd[0], batch, dy[0], dx2[0], null, null);
            CPU.batchNormBackward(x[1], gamma[1], stats[1], rstd[1], batch, dy[1], dx2[1], null, null);
            assertCloseAbs(what + mode + " dx alone", dx2, ABS * terms, REL);
            REF.batchNormBackward(x[0], gamma[0], stats[0], rstd[0], batch, dy[0], null, dGamma[0], null);
            CPU.batchNormBackward(x[1], gamma[1], stats[1], rstd[1], batch, dy[1], null, dGamma[1], null);
            assertClose(what + mode + " dGamma accumulated twice", dGamma, ABS, REL);
            close(dx, dGamma, dBeta, dx2);
        }
        close(x, gamma, beta, y, mu, rs, runMean, runVar, y2, ye, dy, stats, rstd);
    }

    /**
     * Sums over 25,088 rows of values near 10: no cancellation, so the double-accumulated totals (BatchNorm mean,
     * dBeta) must be within 2 ulp of the reference. A float running sum over the ~2,000 rows of one task would be
     * off by tens of ulp.
     */
    @Test
    void longSumsKeepFloatPrecision() {
        int[] s = {8, 56, 56, 16};
        int c = 16, rows = 8 * 56 * 56;
        Tensor[] x = normalWith(300, 10, 1, s), gamma = normalWith(301, 1, 0.3, c), beta = normal(302, c);
        Tensor[] y = garbage(s), mu = garbage(c), rs = garbage(c);
        REF.batchNormTrain(x[0], gamma[0], beta[0], 1e-5f, 0.1f, y[0], mu[0], rs[0], null, null);
        CPU.batchNormTrain(x[1], gamma[1], beta[1], 1e-5f, 0.1f, y[1], mu[1], rs[1], null, null);
        assertClose("batchNorm mean of values near 10", mu, 0, TWO_ULP);
        Tensor[] dy = normalWith(303, 10, 1, s), dBeta = zeros(c), lnBeta = zeros(c);
        Tensor[] stats = pair(mu[0].toArray(), c), rstd = pair(rs[0].toArray(), c);
        REF.batchNormBackward(x[0], gamma[0], stats[0], rstd[0], true, dy[0], null, null, dBeta[0]);
        CPU.batchNormBackward(x[1], gamma[1], stats[1], rstd[1], true, dy[1], null, null, dBeta[1]);
        assertClose("batchNorm dBeta of gradients near 10", dBeta, 0, TWO_ULP);
        Tensor[] lnMean = pair(new float[rows], rows), lnRstd = pair(filled(rows, 1f), rows);
        REF.layerNormBackward(x[0], gamma[0], lnMean[0], lnRstd[0], dy[0], null, null, lnBeta[0]);
        CPU.layerNormBackward(x[1], gamma[1], lnMean[1], lnRstd[1], dy[1], null, null, lnBeta[1]);
        assertClose("layerNorm dBeta of gradients near 10", lnBeta, 0, TWO_ULP);
        close(x, gamma, beta, y, mu, rs, dy, dBeta, lnBeta, stats, rstd, lnMean, lnRstd);
    }

    private static float[] filled(int n, float v) {
        float[] a = new float[n];
        java.util.Arrays.fill(a, v);
        return a;
    }

    @Test
    void badInputNamesTheOp() {
        Tensor x = CPU.zeros(4, 6), y = CPU.zeros(4, 6), g = CPU.fromArray(new float[] {1, 1, 1, 1, 1, 1}, 6), b = CPU.zeros(6), wrong = CPU.zeros(5);
        Tensor rows = CPU.zeros(4), one = CPU.zeros(1, 6), oneOut = CPU.zeros(1, 6);
        assertRejects("layerNorm", () -> CPU.layerNorm(x, wrong, b, 1e-6f, y, null, null));
        assertRejects("layerNorm", () -> CPU.layerNorm(x, g, b, 1e-6f, CPU.zeros(4, 5), null, null));
        assertRejects("layerNormBackward", () -> CPU.layerNormBackward(x, g, rows, CPU.zeros(3), y, y, null, null));
        assertRejects("batchNormTrain", () -> CPU.batchNormTrain(x, g, wrong, 1e-5f, 0.1f, y, null, null, null, null));
        assertRejects("batchNormTrain", () -> CPU.batchNormTrain(one, g, b, 1e-5f, 0.1f, oneOut, null, null, null, null));
        assertRejects("batchNormEval", () -> CPU.batchNormEval(x, g, b, wrong, b, 1e-5f, y));
        assertRejects("batchNormBackward", () -> CPU.batchNormBackward(x, g, b, b, true, CPU.zeros(6, 4), y, null, null));
        assertRejectsReleased("layerNorm", CPU.zeros(4, 6), released -> CPU.layerNorm(released, g, b, 1e-6f, y, null, null));
        assertRejectsReleased("batchNormBackward", CPU.zeros(6),
                released -> CPU.batchNormBackward(x, g, b, b, true, y, y, released, null));
        close(new Tensor[] {x, y, g, b, wrong, rows, one, oneOut});
    }
}
