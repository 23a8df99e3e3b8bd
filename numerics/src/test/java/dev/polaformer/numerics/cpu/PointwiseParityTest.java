package dev.polaformer.numerics.cpu;

import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.RopeTables;
import dev.polaformer.numerics.Tensor;
import dev.polaformer.numerics.TestData;
import dev.polaformer.numerics.reference.PointwiseKernels;
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
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * CPU pointwise ops against the reference backend.
 *
 * <p>Tolerances, in the form {@code absOfMax·max|ref| + rel·|ref|}, follow from how each op rounds:
 * <ul>
 *   <li>add, mul, scale, addScaled round once, as the reference does: {@code rel = 2.4e-7} (2 ulp; the reference's
 *       double result is itself rounded, so ties may land one ulp apart).</li>
 *   <li>GELU/SiLU and softmax: a few ulp of float arithmetic around {@code exp}: {@code rel = 6e-7}. The
 *       derivatives have roots (gelu' at x ≈ −0.75, silu' at x ≈ −1.28) where no float formula is relatively
 *       accurate, so they also get {@code absOfMax = 3e-7}.</li>
 *   <li>RoPE: two products and a sum per value, cancelling where a rotated value is near zero:
 *       {@code 2e-7·max + 2e-7}.</li>
 *   <li>Sums in double over float blocks of ≤ 64 terms (sumTo, mulSumTo, avgPool): block rounding
 *       {@code ~√64·2⁻²⁴} relative to the terms, far below {@code 1e-6·max + 1e-6}.</li>
 *   <li>crossEntropy and sumOfSquares are computed in double: 1e-9 relative.</li>
 * </ul>
 */
class PointwiseParityTest {

    @BeforeEach // per test, so each is reported as skipped (with the reason) where the backend cannot run
    void backendAvailable() {
        CpuParity.assumeAvailable();
    }

    /** Shapes whose last dimension is not a multiple of any vector width, plus one long enough to split. */
    private static final int[][] SHAPES = {{1}, {7}, {3, 17}, {2, 5, 33}, {4, 64}, {1, 1, 1, 3}, {3, 129, 130}};

    @FunctionalInterface
    interface Map {
        void run(Backend b, Tensor x, Tensor y);
    }

    @FunctionalInterface
    interface Grad {
        void run(Backend b, Tensor x, Tensor dy, Tensor dx);
    }

    private static void checkMap(String what, Map op, double scale, double absOfMax, double rel) {
        long seed = 1;
        for (int[] s : SHAPES) {
            Tensor[] x = normalWith(seed++, 0, scale, s), y = garbage(s);
            op.run(REF, x[0], y[0]);
            op.run(CPU, x[1], y[1]);
            assertClose(what + " " + shape(s), y, absOfMax, rel);
            // in place: y = x
            op.run(CPU, x[1], x[1]);
            Tensor[] inPlace = {y[0], x[1]};
            assertClose(what + " in place " + shape(s), inPlace, absOfMax, rel);
            close(x, y);
        }
        // views: a column slice (rows strided) and a transpose (elements strided, the gathered path)
        Tensor[] wide = normalWith(99, 0, scale, 37, 50);
        Tensor[] slice = {wide[0].narrow(1, 3, 33), wide[1].narrow(1, 3, 33)};
        Tensor[] out = garbage(37, 33);
        op.run(REF, slice[0], out[0]);
        op.run(CPU, slice[1], out[1]);
        assertClose(what + " column slice", out, absOfMax, rel);
        Tensor[] transposed = {wide[0].permute(1, 0), wide[1].permute(1, 0)}, outT = garbage(50, 37);
        op.run(REF, transposed[0], outT[0]);
        op.run(CPU, transposed[1], outT[1]);
        assertClose(what + " transposed", outT, absOfMax, rel);
        // a strided output whose rows are longer than a gather block
        Tensor[] x = normalWith(98, 0, scale, 3, 2500), yT = garbage(2500, 3);
        op.run(REF, x[0], yT[0].permute(1, 0));
        op.run(CPU, x[1], yT[1].permute(1, 0));
        assertClose(what + " into a transposed output", yT, absOfMax, rel);
        Tensor[] y = garbage(3, 2500);
        op.run(REF, yT[0].permute(1, 0), y[0]);
        op.run(CPU, yT[1].permute(1, 0), y[1]);
        assertClose(what + " of a transposed input", y, absOfMax, rel);
        close(wide, out, outT, x, yT, y);
    }

    private static void checkGrad(String what, Grad op, double scale, double absOfMax, double rel) {
        long seed = 100;
        for (int[] s : SHAPES) {
            Tensor[] x = normalWith(seed++, 0, scale, s), dy = normal(seed++, s), dx = garbage(s);
            op.run(REF, x[0], dy[0], dx[0]);
            op.run(CPU, x[1], dy[1], dx[1]);
            assertClose(what + " " + shape(s), dx, absOfMax, rel);
            close(x, dy, dx);
        }
        Tensor[] wide = normalWith(7, 0, scale, 40, 45), dy = normal(8, 45, 40), dx = garbage(45, 40);
        op.run(REF, wide[0].permute(1, 0), dy[0], dx[0]);
        op.run(CPU, wide[1].permute(1, 0), dy[1], dx[1]);
        assertClose(what + " transposed x", dx, absOfMax, rel);
        // a strided upstream gradient whose rows are longer than a gather block
        Tensor[] x = normalWith(9, 0, scale, 3, 2500), dyT = normal(10, 2500, 3), dx2 = garbage(3, 2500);
        op.run(REF, x[0], dyT[0].permute(1, 0), dx2[0]);
        op.run(CPU, x[1], dyT[1].permute(1, 0), dx2[1]);
        assertClose(what + " transposed dy", dx2, absOfMax, rel);
        close(wide, dy, dx, x, dyT, dx2);
    }

    @Test
    void gelu() {
        checkMap("gelu", Backend::gelu, 3, 1e-12, 6e-7);
        checkGrad("geluBackward", Backend::geluBackward, 3, 3e-7, 6e-7);
    }

    @Test
    void geluTailsAndSpecialValues() {
        float[] v = {-20f, -14.4f, -13f, -10f, -6f, -3f, -0.75f, -0.7499f, -0f, 0f, 0.75f, 0.7501f, 5f, 14f, 20f,
                1e20f, -1e20f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, Float.MIN_VALUE};
        Tensor[] x = pair(v, v.length), y = garbage(v.length), dy = pair(filled(v.length, 1f), v.length);
        Tensor[] dx = garbage(v.length);
        // the oracle: the reference is not relatively accurate below x ≈ −5 (1 + erf cancels), so the far
        // tail is checked against GeluAccuracyTest's continued-fraction Φ
        CPU.gelu(x[1], y[1]);
        CPU.geluBackward(x[1], dy[1], dx[1]);
        float[] got = y[1].toArray(), grad = dx[1].toArray();
        for (int i = 0; i < v.length; i++) {
            double ref = GeluOracle.gelu(v[i]), refGrad = GeluOracle.geluGrad(v[i]);
            if (Double.isNaN(ref) || Double.isInfinite(ref)) {
                assertEquals(ref, got[i], "gelu(" + v[i] + ")");
            } else {
                double tol = Math.abs(ref) >= Float.MIN_NORMAL ? 6e-7 * Math.abs(ref) : 1e-44;
                assertTrue(Math.abs(got[i] - ref) <= tol, "gelu(" + v[i] + ") = " + got[i] + ", expected " + ref);
            }
            if (Double.isNaN(refGrad) || Double.isInfinite(refGrad)) {
                assertEquals(refGrad, grad[i], "gelu'(" + v[i] + ")");
            } else {
                // relative to the size of the two terms Φ(x) and x·φ(x), which cancel near x = −0.75
                double size = Math.abs(GeluOracle.phi(v[i])) + Math.abs(v[i] * GeluOracle.density(v[i]));
                assertEquals(refGrad, grad[i], 6e-7 * size + 1e-44, "gelu'(" + v[i] + ")");
            }
        }
        close(x, y, dy, dx);
    }

    @Test
    void oracleAgreesWithTheReferenceWhereBothAreAccurate() {
        for (double x = -5; x <= -3; x += 0.0625) {
            double viaErf = 0.5 * (1 + PointwiseKernels.erf(x * Math.sqrt(0.5)));
            double viaFraction = GeluOracle.density(x) * GeluOracle.millsRatio(-x);
            assertEquals(viaErf, viaFraction, 1e-9 * viaErf, "Φ(" + x + ")");
        }
    }

    /**
     * Measures GELU against {@link GeluOracle} over every float in [−14, 14] on a 2⁻¹² grid and 300,000 samples of
     * N(0, 4²), relative to the value wherever it is a normal float, and prints the maxima ({@link GeluKernels}
     * quotes them).
     */
    @Test
    void geluAccuracySweep() {
        int grid = 28 * 4096 + 1;
        float[] normal = TestData.normal(77, 300_000, 0, 4);
        float[] x = new float[grid + normal.length];
        for (int i = 0; i < grid; i++) x[i] = -14f + i / 4096f;
        System.arraycopy(normal, 0, x, grid, normal.length);
        float[] ones = new float[x.length];
        java.util.Arrays.fill(ones, 1f);
        try (Tensor xt = CPU.fromArray(x, x.length); Tensor y = CPU.empty(x.length);
             Tensor dy = CPU.fromArray(ones, x.length); Tensor dx = CPU.empty(x.length)) {
            CPU.gelu(xt, y);
            CPU.geluBackward(xt, dy, dx);
            float[] g = y.toArray(), d = dx.toArray();
            double worst = 0, worstGrad = 0;
            float at = 0, atGrad = 0;
            for (int i = 0; i < x.length; i++) {
                double ref = GeluOracle.gelu(x[i]);
                if (Math.abs(ref) >= Float.MIN_NORMAL) {
                    double e = Math.abs(g[i] - ref) / Math.abs(ref);
                    if (e > worst) {
                        worst = e;
                        at = x[i];
                    }
                }
                double refGrad = GeluOracle.geluGrad(x[i]);
                // relative to |Φ(x)| + |x·φ(x)|: the two terms cancel at gelu's root near −0.7518, where no float
                // formula is relatively accurate, and elsewhere this is |gelu'| within a factor of 3
                double size = Math.abs(GeluOracle.phi(x[i])) + Math.abs(x[i] * GeluOracle.density(x[i]));
                double eg = Math.abs(d[i] - refGrad) / size;
                if (size >= Float.MIN_NORMAL && eg > worstGrad) {
                    worstGrad = eg;
                    atGrad = x[i];
                }
            }
            System.out.printf("GELU max relative error %.3g at x = %s; gelu' max error (relative to |Φ|+|xφ|) %.3g at x = %s (%s)%n",
                    worst, at, worstGrad, atGrad, Simd.describe());
            assertTrue(worst <= 6e-7, "gelu relative error " + worst + " at x = " + at);
            assertTrue(worstGrad <= 6e-7, "gelu' relative error " + worstGrad + " at x = " + atGrad);
        }
    }

    @Test
    void silu() {
        checkMap("silu", Backend::silu, 4, 1e-12, 6e-7);
        checkGrad("siluBackward", Backend::siluBackward, 4, 3e-7, 6e-7);
        // far tails: sigma underflows gracefully, no NaN from exp overflow
        float[] v = {-100f, -87f, -30f, 30f, 100f};
        Tensor[] x = pair(v, v.length), y = garbage(v.length);
        REF.silu(x[0], y[0]);
        CPU.silu(x[1], y[1]);
        assertClose("silu tails", y, 1e-30, 6e-7);
        close(x, y);
    }

    @Test
    void softmax() {
        int[][] shapes = {{1, 1}, {3, 7}, {5, 17}, {2, 3, 64}, {4, 1000}, {2, 5000}, {130, 33}};
        long seed = 200;
        for (int[] s : shapes) {
            Tensor[] x = normalWith(seed++, 0, 4, s), y = garbage(s);
            REF.softmax(x[0], y[0]);
            CPU.softmax(x[1], y[1]);
            assertClose("softmax " + shape(s), y, 1e-12, 6e-7);
            // the backward from the same y on both sides, so only its own rounding is compared
            Tensor[] dy = normal(seed++, s), dx = garbage(s), ys = pair(y[0].toArray(), s);
            REF.softmaxBackward(ys[0], dy[0], dx[0]);
            CPU.softmaxBackward(ys[1], dy[1], dx[1]);
            // dx = y·(dy − Σ dy·y) rounds relative to its terms y·dy, not to the (cancelled) result
            double terms = maxAbs(ys[0]) * maxAbs(dy[0]);
            assertCloseAbs("softmaxBackward " + shape(s), dx, 2.4e-7 * terms, 1e-6);
            close(x, y, dy, dx, ys);
        }
        // a transposed (strided) view, and a large offset that must not overflow exp
        Tensor[] x = normalWith(300, 0, 4, 9, 20), y = garbage(20, 9);
        REF.softmax(x[0].permute(1, 0), y[0]);
        CPU.softmax(x[1].permute(1, 0), y[1]);
        assertClose("softmax transposed", y, 1e-12, 6e-7);
        Tensor[] big = normalWith(301, 80, 3, 3, 50), yb = garbage(3, 50);
        REF.softmax(big[0], yb[0]);
        CPU.softmax(big[1], yb[1]);
        assertClose("softmax of large logits", yb, 1e-12, 6e-7);
        close(x, y, big, yb);
    }

    @Test
    void rope() {
        // (B, N, C) with table width D: D below, equal to and above a vector width, C a multiple of D
        int[][] cases = {{2, 6, 32, 16}, {1, 5, 24, 8}, {3, 4, 96, 48}, {2, 7, 12, 12}, {1, 1, 4, 4}, {2, 12, 64, 32}};
        long seed = 400;
        for (int[] c : cases) {
            int b = c[0], n = c[1], ch = c[2], d = c[3];
            RopeTables[] tables = tables(n, d);
            Tensor[] x = normal(seed++, b, n, ch), y = garbage(b, n, ch), back = garbage(b, n, ch);
            REF.rope(x[0], tables[0], y[0]);
            CPU.rope(x[1], tables[1], y[1]);
            assertClose("rope " + shape(c), y, 2e-7, 2e-7);
            REF.ropeBackward(y[0], tables[0], back[0]);
            CPU.ropeBackward(y[1], tables[1], back[1]);
            assertClose("ropeBackward " + shape(c), back, 2e-7, 2e-7);
            // in place
            CPU.rope(x[1], tables[1], x[1]);
            assertClose("rope in place " + shape(c), new Tensor[] {y[0], x[1]}, 2e-7, 2e-7);
            close(x, y, back);
            tables[0].close();
            tables[1].close();
        }
        // x a column slice of a (B, N, 3C) projection, as attention hands over its queries
        RopeTables[] tables = tables(6, 16);
        Tensor[] qkv = normal(450, 2, 6, 96), y = garbage(2, 6, 32);
        REF.rope(qkv[0].narrow(2, 32, 32), tables[0], y[0]);
        CPU.rope(qkv[1].narrow(2, 32, 32), tables[1], y[1]);
        assertClose("rope of a column slice", y, 2e-7, 2e-7);
        Tensor[] yT = garbage(2, 6, 32);
        Tensor[] xT = normal(451, 32, 6, 2);
        REF.rope(xT[0].permute(2, 1, 0), tables[0], yT[0]);
        CPU.rope(xT[1].permute(2, 1, 0), tables[1], yT[1]);
        assertClose("rope of a transposed view", yT, 2e-7, 2e-7);
        close(qkv, y, yT, xT);
        tables[0].close();
        tables[1].close();
    }

    private static RopeTables[] tables(int n, int d) {
        float[] angle = new float[d / 2];
        for (int j = 0; j < d / 4; j++) {
            angle[2 * j] = angle[2 * j + 1] = (float) Math.pow(10000, -(double) j / Math.max(1, d / 4 - 1));
        }
        int w = Math.max(1, (int) Math.sqrt(n));
        while (n % w != 0) w--;
        float[][] st = RopeTables.compute(angle, n / w, w);
        // make the two halves of a pair differ, so a swapped sin/cos index is caught
        for (int i = 1; i < st[0].length; i += 2) {
            st[0][i] *= 0.75f;
            st[1][i] *= 1.25f;
        }
        return new RopeTables[] {
            new RopeTables(REF.fromArray(st[0], n, d), REF.fromArray(st[1], n, d)),
            new RopeTables(CPU.fromArray(st[0], n, d), CPU.fromArray(st[1], n, d))};
    }

    @Test
    void broadcastArithmetic() {
        int[] a = {2, 5, 7, 17};
        int[][] bs = {{2, 5, 7, 17}, {17}, {1, 17}, {2, 1, 1, 1}, {1, 1, 1, 17}, {5, 1, 17}, {7, 1}, {1}, {1, 5, 7, 1}};
        long seed = 500;
        for (int[] bShape : bs) {
            for (String op : new String[] {"add", "mul"}) {
                Tensor[] x = normal(seed++, a), y = normal(seed++, bShape), out = garbage(a);
                apply(op, REF, x[0], y[0], out[0]);
                apply(op, CPU, x[1], y[1], out[1]);
                assertClose(op + " " + shape(a) + " with " + shape(bShape), out, 0, 2.4e-7);
                // out aliasing a
                apply(op, CPU, x[1], y[1], x[1]);
                assertClose(op + " in place with " + shape(bShape), new Tensor[] {out[0], x[1]}, 0, 2.4e-7);
                close(x, y, out);
            }
        }
        // b broadcast along rows longer than a gather block, as a per-sample DropPath mask
        Tensor[] rowsA = normal(604, 3, 2, 1100), mask = normal(605, 3, 1, 1), masked = garbage(3, 2, 1100);
        REF.mul(rowsA[0], mask[0], masked[0]);
        CPU.mul(rowsA[1], mask[1], masked[1]);
        assertClose("mul by a per-sample scalar", masked, 0, 2.4e-7);
        close(rowsA, mask, masked);
        // a long contiguous add (split into pieces) and a strided a
        Tensor[] x = normal(600, 70001), y = normal(601, 70001), out = garbage(70001);
        REF.add(x[0], y[0], out[0]);
        CPU.add(x[1], y[1], out[1]);
        assertClose("long add", out, 0, 2.4e-7);
        Tensor[] wide = normal(602, 9, 40), bias = normal(603, 17), o2 = garbage(9, 17);
        REF.mul(wide[0].narrow(1, 20, 17), bias[0], o2[0]);
        CPU.mul(wide[1].narrow(1, 20, 17), bias[1], o2[1]);
        assertClose("mul of a column slice", o2, 0, 2.4e-7);
        close(x, y, out, wide, bias, o2);
    }

    private static void apply(String op, Backend b, Tensor x, Tensor y, Tensor out) {
        if (op.equals("add")) b.add(x, y, out); else b.mul(x, y, out);
    }

    @Test
    void scaleAndAddScaled() {
        for (int[] s : SHAPES) {
            Tensor[] x = normal(700, s), y = garbage(s), acc = normal(701, s);
            REF.scale(x[0], -0.37f, y[0]);
            CPU.scale(x[1], -0.37f, y[1]);
            assertClose("scale " + shape(s), y, 0, 2.4e-7);
            REF.addScaled(x[0], 1.7f, acc[0]);
            CPU.addScaled(x[1], 1.7f, acc[1]);
            assertClose("addScaled " + shape(s), acc, 1e-30, 2.4e-7);
            close(x, y, acc);
        }
    }

    @Test
    void sumToAndMulSumTo() {
        int[] a = {2, 5, 7, 17};
        int[][] outs = {{17}, {1, 17}, {2, 1, 1, 1}, {1, 1, 1, 17}, {5, 1, 17}, {7, 1}, {1}, {2, 5, 7, 17}, {2, 1, 7, 1}};
        long seed = 800;
        for (int[] o : outs) {
            for (boolean accumulate : new boolean[] {false, true}) {
                Tensor[] x = normal(seed++, a), y = normal(seed++, a);
                Tensor[] out = accumulate ? normal(seed++, o) : garbage(o);
                Tensor[] out2 = accumulate ? normal(seed++, o) : garbage(o);
                REF.sumTo(x[0], out[0], accumulate);
                CPU.sumTo(x[1], out[1], accumulate);
                assertClose("sumTo " + shape(o) + (accumulate ? " accumulate" : ""), out, 1e-6, 1e-6);
                REF.mulSumTo(x[0], y[0], out2[0], accumulate);
                CPU.mulSumTo(x[1], y[1], out2[1], accumulate);
                assertClose("mulSumTo " + shape(o) + (accumulate ? " accumulate" : ""), out2, 1e-6, 1e-6);
                close(x, y, out, out2);
            }
        }
        // long reductions: a bias gradient over 20,000 rows, per-sample sums of long rows, a strided x
        int[][][] longCases = {{{20000, 17}, {17}}, {{20000, 33}, {1, 33}}, {{3, 20000}, {3, 1}}, {{1, 70001}, {1}},
                {{4, 100, 64}, {4, 1, 64}}};
        for (int[][] c : longCases) {
            Tensor[] x = normalWith(seed++, 0.3, 1, c[0]), y = normal(seed++, c[0]), out = normal(seed++, c[1]);
            Tensor[] out2 = garbage(c[1]);
            REF.sumTo(x[0], out[0], true);
            CPU.sumTo(x[1], out[1], true);
            assertClose("sumTo " + shape(c[0]) + " → " + shape(c[1]), out, 1e-6, 1e-6);
            REF.mulSumTo(x[0], y[0], out2[0], false);
            CPU.mulSumTo(x[1], y[1], out2[1], false);
            assertClose("mulSumTo " + shape(c[0]) + " → " + shape(c[1]), out2, 1e-6, 1e-6);
            close(x, y, out, out2);
        }
        Tensor[] wide = normal(900, 3000, 40), out = garbage(1, 17);
        REF.sumTo(wide[0].narrow(1, 5, 17), out[0], false);
        CPU.sumTo(wide[1].narrow(1, 5, 17), out[1], false);
        assertClose("sumTo of a column slice", out, 1e-6, 1e-6);
        Tensor[] outT = garbage(40);
        REF.sumTo(wide[0].permute(1, 0), outT[0].reshape(40, 1), false);
        CPU.sumTo(wide[1].permute(1, 0), outT[1].reshape(40, 1), false);
        assertClose("sumTo of a transposed view", outT, 1e-6, 1e-6);
        close(wide, out, outT);
    }

    /**
     * Long sums of values near 10: no cancellation, so the double-accumulated results must be within 2 ulp of
     * the reference; a float running sum over thousands of rows would not be.
     */
    @Test
    void longSumsKeepFloatPrecision() {
        Tensor[] x = normalWith(950, 10, 1, 20000, 17), out = garbage(17), out2 = garbage(3, 1);
        REF.sumTo(x[0], out[0], false);
        CPU.sumTo(x[1], out[1], false);
        assertClose("sumTo over 20,000 rows near 10", out, 0, 2.4e-7);
        Tensor[] rows = normalWith(951, 10, 1, 3, 30000);
        REF.sumTo(rows[0], out2[0], false);
        CPU.sumTo(rows[1], out2[1], false);
        assertClose("sumTo along rows of 30,000 near 10", out2, 0, 2.4e-7);
        // many outputs, each summing a long column: the tasks split the outputs, not the rows
        Tensor[] perSample = normalWith(953, 10, 1, 8, 3000, 17), outs = garbage(8, 1, 17);
        REF.sumTo(perSample[0], outs[0], false);
        CPU.sumTo(perSample[1], outs[1], false);
        assertClose("sumTo (8, 3000, 17) → (8, 1, 17) near 10", outs, 0, 2.4e-7);
        close(perSample, outs);
        Tensor[] img = normalWith(952, 10, 1, 4, 56, 56, 16), pooled = garbage(4, 16);
        REF.avgPool(img[0], pooled[0]);
        CPU.avgPool(img[1], pooled[1]);
        assertClose("avgPool over 56² near 10", pooled, 0, 2.4e-7);
        close(x, out, out2, rows, img, pooled);
    }

    @Test
    void avgPool() {
        int[][] shapes = {{2, 5, 7, 17}, {1, 1, 1, 3}, {3, 4, 4, 64}, {2, 56, 56, 16}, {1, 3, 2, 1}};
        long seed = 1000;
        for (int[] s : shapes) {
            Tensor[] x = normalWith(seed++, 0.5, 1, s), y = garbage(s[0], s[3]), dx = garbage(s);
            REF.avgPool(x[0], y[0]);
            CPU.avgPool(x[1], y[1]);
            assertClose("avgPool " + shape(s), y, 1e-6, 1e-6);
            Tensor[] dy = normal(seed++, s[0], s[3]);
            REF.avgPoolBackward(dy[0], dx[0]);
            CPU.avgPoolBackward(dy[1], dx[1]);
            assertClose("avgPoolBackward " + shape(s), dx, 0, 2.4e-7);
            close(x, y, dx, dy);
        }
    }

    @Test
    void crossEntropy() {
        int[][] shapes = {{4, 10}, {3, 1000}, {1, 1}, {17, 33}};
        long seed = 1100;
        for (int[] s : shapes) {
            Tensor[] logits = normalWith(seed++, 0, 5, s);
            float[] t = TestData.uniform(seed++, s[0] * s[1], 0, 1);
            for (int r = 0; r < s[0]; r++) {
                // soft targets summing to 0.9..1.1, as Mixup with label smoothing gives
                double sum = 0;
                for (int j = 0; j < s[1]; j++) sum += t[r * s[1] + j];
                for (int j = 0; j < s[1]; j++) t[r * s[1] + j] = (float) (t[r * s[1] + j] / sum * (0.9 + 0.2 * r / s[0]));
            }
            Tensor[] targets = pair(t, s), grad = garbage(s);
            double ref = REF.crossEntropy(logits[0], targets[0], grad[0]);
            double got = CPU.crossEntropy(logits[1], targets[1], grad[1]);
            assertEquals(ref, got, 1e-9 * Math.abs(ref), "crossEntropy loss " + shape(s));
            assertClose("crossEntropy gradient " + shape(s), grad, 1e-12, 2.4e-7);
            assertEquals(ref, CPU.crossEntropy(logits[1], targets[1], null), 1e-9 * Math.abs(ref), "loss without gradient");
            close(logits, targets, grad);
        }
        // a confident, correct prediction: a small loss from large logits must keep its digits
        float[] l = {30f, 2f, -1f, 0.5f}, t = {1f, 0f, 0f, 0f};
        Tensor[] logits = pair(l, 1, 4), targets = pair(t, 1, 4);
        double ref = REF.crossEntropy(logits[0], targets[0], null);
        assertEquals(ref, CPU.crossEntropy(logits[1], targets[1], null), 1e-9 * ref, "confident loss");
        close(logits, targets);
    }

    @Test
    void crossEntropyRejectsNonFiniteValues() {
        float[] l = {1, 2, Float.NaN, 4}, t = {0.25f, 0.25f, 0.25f, 0.25f};
        Tensor logits = CPU.fromArray(l, 2, 2), targets = CPU.fromArray(t, 2, 2);
        ArithmeticException e = assertThrows(ArithmeticException.class, () -> CPU.crossEntropy(logits, targets, null));
        assertTrue(e.getMessage().startsWith("crossEntropy: logits"), e.getMessage());
        assertTrue(e.getMessage().contains("flat index 2"), e.getMessage());
        Tensor fine = CPU.fromArray(new float[] {1, 2, 3, 4}, 2, 2);
        Tensor badTargets = CPU.fromArray(new float[] {0, Float.POSITIVE_INFINITY, 0, 1}, 2, 2);
        e = assertThrows(ArithmeticException.class, () -> CPU.crossEntropy(fine, badTargets, null));
        assertTrue(e.getMessage().startsWith("crossEntropy: targets"), e.getMessage());
        logits.close();
        targets.close();
        fine.close();
        badTargets.close();
    }

    @Test
    void sumOfSquares() {
        int[][] shapes = {{1}, {17}, {300007}, {3, 129, 130}};
        long seed = 1200;
        for (int[] s : shapes) {
            Tensor[] x = normalWith(seed++, 0, 3, s);
            double ref = REF.sumOfSquares(x[0]);
            assertEquals(ref, CPU.sumOfSquares(x[1]), 1e-9 * ref, "sumOfSquares " + shape(s));
            close(x);
        }
        Tensor[] wide = normal(1300, 50, 37);
        Tensor ref = wide[0].permute(1, 0), cpu = wide[1].permute(1, 0).narrow(0, 3, 30);
        assertEquals(REF.sumOfSquares(ref.narrow(0, 3, 30)), CPU.sumOfSquares(cpu), 1e-9 * REF.sumOfSquares(ref),
                "sumOfSquares of a strided view");
        close(wide);
        // 1e20² overflows float but not double; NaN and infinity propagate
        Tensor[] huge = pair(filled(40, 1e20f), 40);
        double hugeRef = REF.sumOfSquares(huge[0]);
        assertTrue(Double.isFinite(hugeRef));
        assertEquals(hugeRef, CPU.sumOfSquares(huge[1]), 1e-9 * hugeRef, "float-overflowing squares");
        float[] withNaN = filled(40, 1f);
        withNaN[33] = Float.NaN;
        Tensor nan = CPU.fromArray(withNaN, 40);
        assertTrue(Double.isNaN(CPU.sumOfSquares(nan)));
        float[] withInf = filled(40, 1f);
        withInf[3] = Float.NEGATIVE_INFINITY;
        Tensor inf = CPU.fromArray(withInf, 40);
        assertEquals(Double.POSITIVE_INFINITY, CPU.sumOfSquares(inf));
        close(huge);
        nan.close();
        inf.close();
    }

    @Test
    void badInputNamesTheOp() {
        Tensor a = CPU.zeros(3, 4), b = CPU.zeros(4, 3), c = CPU.zeros(3, 4), v5 = CPU.zeros(5);
        Tensor img = CPU.zeros(2, 3, 3, 4), pooled = CPU.zeros(2, 5);
        assertRejects("gelu", () -> CPU.gelu(a, b));
        assertRejects("geluBackward", () -> CPU.geluBackward(a, c, b));
        assertRejects("silu", () -> CPU.silu(a, b));
        assertRejects("softmax", () -> CPU.softmax(a, b));
        assertRejects("softmaxBackward", () -> CPU.softmaxBackward(a, b, c));
        assertRejects("add", () -> CPU.add(a, v5, c));
        assertRejects("mul", () -> CPU.mul(a, c, b));
        assertRejects("scale", () -> CPU.scale(a, 2f, b));
        assertRejects("addScaled", () -> CPU.addScaled(a, 2f, b));
        assertRejects("sumTo", () -> CPU.sumTo(a, v5, false));
        assertRejects("mulSumTo", () -> CPU.mulSumTo(a, b, CPU.zeros(4), false));
        assertRejects("avgPool", () -> CPU.avgPool(img, pooled));
        assertRejects("avgPoolBackward", () -> CPU.avgPoolBackward(pooled, img));
        assertRejects("crossEntropy", () -> CPU.crossEntropy(a, b, null));
        RopeTables[] t = tables(3, 8);
        Tensor x = CPU.zeros(1, 3, 12);
        assertRejects("rope", () -> CPU.rope(x, t[1], CPU.zeros(1, 3, 12)));
        assertRejects("ropeBackward", () -> CPU.ropeBackward(CPU.zeros(1, 4, 16), t[1], CPU.zeros(1, 4, 16)));
        // a tensor of another backend
        Tensor foreign = REF.zeros(3, 4);
        assertRejects("gelu", () -> CPU.gelu(foreign, a));
        assertRejectsReleased("gelu", CPU.zeros(3, 4), released -> CPU.gelu(released, a));
        assertRejectsReleased("add", CPU.zeros(4), released -> CPU.add(a, released, c));
        assertRejectsReleased("sumOfSquares", CPU.zeros(4), CPU::sumOfSquares);
        assertRejectsReleased("crossEntropy", CPU.zeros(3, 4), released -> CPU.crossEntropy(a, c, released));
        close(new Tensor[] {a, b, c, v5, img, pooled, x, foreign});
        t[0].close();
        t[1].close();
    }

    private static float[] filled(int n, float v) {
        float[] a = new float[n];
        java.util.Arrays.fill(a, v);
        return a;
    }
}
