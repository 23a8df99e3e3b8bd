package dev.polaformer.numerics.reference;

import dev.polaformer.numerics.RopeTables;
import org.junit.jupiter.api.Test;

import java.util.function.DoubleSupplier;

import static dev.polaformer.numerics.FiniteDifference.check;
import static dev.polaformer.numerics.FiniteDifference.dot;
import static dev.polaformer.numerics.TestData.normal;
import static dev.polaformer.numerics.TestData.uniform;
import static dev.polaformer.numerics.TestData.widen;

/**
 * Every backward of the reference kernels against central differences in double. Each test differentiates
 * {@code L = Σ y·gy} for a random upstream {@code gy}, so one check covers every output element.
 */
class ReferenceGradientTest {
    private static final double TOL = 1e-7;

    private static double[] rnd(long seed, int n) {
        return widen(normal(seed, n));
    }

    @Test
    void matmulAllTransposes() {
        int m = 3, n = 4, k = 5;
        for (boolean ta : new boolean[] {false, true})
            for (boolean tb : new boolean[] {false, true}) {
                double[] a = rnd(1, m * k), b = rnd(2, k * n), gy = rnd(3, m * n);
                DoubleSupplier loss = () -> {
                    double[] c = new double[m * n];
                    DenseKernels.matmul(1, m, n, k, a, false, ta, b, false, tb, c, 1.5, 0);
                    return dot(c, gy);
                };
                // dA = 1.5·gy·op(B)ᵀ laid out like A; dB = 1.5·op(A)ᵀ·gy laid out like B.
                double[] da = new double[m * k], db = new double[k * n];
                if (!ta) DenseKernels.matmul(1, m, k, n, gy, false, false, b, false, !tb, da, 1.5, 0);
                else DenseKernels.matmul(1, k, m, n, b, false, tb, gy, false, true, da, 1.5, 0);
                if (!tb) DenseKernels.matmul(1, k, n, m, a, false, !ta, gy, false, false, db, 1.5, 0);
                else DenseKernels.matmul(1, n, k, m, gy, false, true, a, false, ta, db, 1.5, 0);
                check("matmul dA ta=" + ta + " tb=" + tb, loss, a, da, TOL);
                check("matmul dB ta=" + ta + " tb=" + tb, loss, b, db, TOL);
            }
    }

    @Test
    void conv2dStridesAndPadding() {
        int[][] cases = {{2, 5, 6, 3, 4, 3, 1, 1}, {1, 7, 5, 2, 3, 3, 2, 1}, {2, 4, 4, 3, 2, 1, 1, 0}, {1, 6, 6, 2, 2, 3, 2, 0}};
        for (int[] cs : cases) {
            int b = cs[0], h = cs[1], w = cs[2], cin = cs[3], cout = cs[4], k = cs[5], s = cs[6], p = cs[7];
            int ho = DenseKernels.outSize(h, k, s, p), wo = DenseKernels.outSize(w, k, s, p);
            double[] x = rnd(10, b * h * w * cin), wt = rnd(11, cout * cin * k * k), bias = rnd(12, cout);
            double[] gy = rnd(13, b * ho * wo * cout);
            DoubleSupplier loss = () -> {
                double[] y = new double[gy.length];
                DenseKernels.conv2d(x, b, h, w, cin, wt, cout, k, k, bias, s, p, y);
                return dot(y, gy);
            };
            double[] dx = new double[x.length], dw = new double[wt.length], db = new double[cout];
            DenseKernels.conv2dBackward(x, b, h, w, cin, wt, cout, k, k, s, p, gy, dx, dw, db);
            String c = "conv2d k" + k + " s" + s + " p" + p;
            check(c + " dx", loss, x, dx, TOL);
            check(c + " dW", loss, wt, dw, TOL);
            check(c + " db", loss, bias, db, TOL);
        }
    }

    @Test
    void depthwise3And5() {
        for (int k : new int[] {3, 5}) {
            int b = 2, h = 5, w = 7, c = 3, p = k / 2;
            double[] x = rnd(20, b * h * w * c), wt = rnd(21, c * k * k), bias = rnd(22, c), gy = rnd(23, x.length);
            DoubleSupplier loss = () -> {
                double[] y = new double[x.length];
                DenseKernels.depthwiseConv2d(x, b, h, w, c, wt, k, bias, p, y);
                return dot(y, gy);
            };
            double[] dx = new double[x.length], dw = new double[wt.length], db = new double[c];
            DenseKernels.depthwiseConv2dBackward(x, b, h, w, c, wt, k, p, gy, dx, dw, db);
            check("depthwise k" + k + " dx", loss, x, dx, TOL);
            check("depthwise k" + k + " dW", loss, wt, dw, TOL);
            check("depthwise k" + k + " db", loss, bias, db, TOL);
        }
    }

    @Test
    void layerNorm() {
        int m = 4, c = 6;
        double[] x = rnd(30, m * c), g = rnd(31, c), be = rnd(32, c), gy = rnd(33, m * c);
        DoubleSupplier loss = () -> {
            double[] y = new double[x.length];
            NormKernels.layerNorm(x, m, c, g, be, 1e-6, y, null, null);
            return dot(y, gy);
        };
        double[] y = new double[x.length], mean = new double[m], rstd = new double[m];
        NormKernels.layerNorm(x, m, c, g, be, 1e-6, y, mean, rstd);
        double[] dx = new double[x.length], dg = new double[c], db = new double[c];
        NormKernels.layerNormBackward(x, m, c, g, mean, rstd, gy, dx, dg, db);
        check("layerNorm dx", loss, x, dx, TOL);
        check("layerNorm dGamma", loss, g, dg, TOL);
        check("layerNorm dBeta", loss, be, db, TOL);
    }

    @Test
    void batchNormTrainAndEval() {
        int m = 7, c = 3;
        double[] x = rnd(40, m * c), g = rnd(41, c), be = rnd(42, c), gy = rnd(43, m * c);
        DoubleSupplier train = () -> {
            double[] y = new double[x.length];
            NormKernels.batchNormTrain(x, m, c, g, be, 1e-5, 0.1, y, new double[c], new double[c], null, null);
            return dot(y, gy);
        };
        double[] y = new double[x.length], mean = new double[c], rstd = new double[c];
        NormKernels.batchNormTrain(x, m, c, g, be, 1e-5, 0.1, y, mean, rstd, null, null);
        double[] dx = new double[x.length], dg = new double[c], db = new double[c];
        NormKernels.batchNormBackward(x, m, c, g, mean, rstd, true, gy, dx, dg, db);
        check("batchNorm(train) dx", train, x, dx, TOL);
        check("batchNorm(train) dGamma", train, g, dg, TOL);
        check("batchNorm(train) dBeta", train, be, db, TOL);

        double[] rm = rnd(44, c), rv = widen(uniform(45, c, 0.5, 2));
        DoubleSupplier eval = () -> {
            double[] ye = new double[x.length];
            NormKernels.batchNormEval(x, m, c, g, be, rm, rv, 1e-5, ye);
            return dot(ye, gy);
        };
        double[] rs = new double[c];
        for (int j = 0; j < c; j++) rs[j] = 1 / Math.sqrt(rv[j] + 1e-5);
        double[] dxe = new double[x.length], dge = new double[c], dbe = new double[c];
        NormKernels.batchNormBackward(x, m, c, g, rm, rs, false, gy, dxe, dge, dbe);
        check("batchNorm(eval) dx", eval, x, dxe, TOL);
        check("batchNorm(eval) dGamma", eval, g, dge, TOL);
        check("batchNorm(eval) dBeta", eval, be, dbe, TOL);
    }

    @Test
    void activations() {
        double[] x = widen(uniform(50, 64, -6, 6));
        for (String name : new String[] {"gelu", "silu"}) {
            boolean gelu = name.equals("gelu");
            double[] gy = rnd(51, x.length);
            DoubleSupplier loss = () -> {
                double s = 0;
                for (int i = 0; i < x.length; i++) s += (gelu ? PointwiseKernels.gelu(x[i]) : PointwiseKernels.silu(x[i])) * gy[i];
                return s;
            };
            double[] dx = new double[x.length];
            for (int i = 0; i < x.length; i++) dx[i] = gy[i] * (gelu ? PointwiseKernels.geluGrad(x[i]) : PointwiseKernels.siluGrad(x[i]));
            check(name, loss, x, dx, TOL);
        }
    }

    @Test
    void erfMatchesKnownValues() {
        // Values of erf from standard tables (Abramowitz & Stegun 7.1), to 1e-15.
        double[][] known = {{0.5, 0.520499877813047}, {1, 0.842700792949715}, {2, 0.995322265018953},
                {3, 0.999977909503001}, {0.1, 0.112462916018285}};
        for (double[] kv : known) {
            double got = PointwiseKernels.erf(kv[0]);
            if (Math.abs(got - kv[1]) > 1e-14) throw new AssertionError("erf(" + kv[0] + ") = " + got + ", expected " + kv[1]);
            if (PointwiseKernels.erf(-kv[0]) != -got) throw new AssertionError("erf must be odd");
        }
    }

    @Test
    void softmax() {
        int rows = 3, n = 5;
        double[] x = rnd(60, rows * n), gy = rnd(61, rows * n);
        DoubleSupplier loss = () -> {
            double[] y = new double[x.length];
            PointwiseKernels.softmax(x, rows, n, y);
            return dot(y, gy);
        };
        double[] y = new double[x.length], dx = new double[x.length];
        PointwiseKernels.softmax(x, rows, n, y);
        PointwiseKernels.softmaxBackward(y, gy, rows, n, dx);
        check("softmax", loss, x, dx, TOL);
    }

    @Test
    void ropeAndItsTranspose() {
        int b = 2, h = 2, w = 3, n = h * w, d = 8, c = 16;
        float[][] t = RopeTables.compute(RopeTables.defaultAngles(4 * d, 1), h, w);
        double[] sin = widen(t[0]), cos = widen(t[1]);
        double[] x = rnd(70, b * n * c), gy = rnd(71, x.length);
        DoubleSupplier loss = () -> {
            double[] y = new double[x.length];
            PointwiseKernels.rope(x, b, n, c, sin, cos, d, false, y);
            return dot(y, gy);
        };
        double[] dx = new double[x.length];
        PointwiseKernels.rope(gy, b, n, c, sin, cos, d, true, dx);
        check("rope", loss, x, dx, TOL);
    }

    @Test
    void avgPoolAndCrossEntropy() {
        int b = 2, n = 5, c = 3;
        double[] x = rnd(80, b * n * c), gy = rnd(81, b * c);
        DoubleSupplier pool = () -> {
            double[] y = new double[b * c];
            PointwiseKernels.avgPool(x, b, n, c, y);
            return dot(y, gy);
        };
        double[] dx = new double[x.length];
        PointwiseKernels.avgPoolBackward(gy, b, n, c, dx);
        check("avgPool", pool, x, dx, TOL);

        int k = 7;
        double[] logits = rnd(82, b * k), targets = widen(uniform(83, b * k, 0, 1));
        DoubleSupplier ce = () -> PointwiseKernels.crossEntropy(logits, targets, b, k, null);
        double[] dl = new double[logits.length];
        PointwiseKernels.crossEntropy(logits, targets, b, k, dl);
        check("crossEntropy (unnormalised soft targets)", ce, logits, dl, TOL);
    }

    @Test
    void linearAttention() {
        for (int[] cs : new int[][] {{2, 2, 3, 2, 8}, {1, 3, 2, 1, 6}, {1, 1, 1, 2, 4}}) {
            int b = cs[0], h = cs[1], w = cs[2], heads = cs[3], c = cs[4], n = h * w, d = c / heads;
            float[][] t = RopeTables.compute(RopeTables.defaultAngles(2 * c, heads), h, w);
            double[] sin = widen(t[0]), cos = widen(t[1]);
            double[] q = rnd(90, b * n * c), k = rnd(91, b * n * c), v = rnd(92, b * n * c);
            double[] s1 = rnd(93, heads * 2 * d), s2 = rnd(94, heads * 2 * d), gy = rnd(95, b * n * c);
            DoubleSupplier loss = () -> {
                double[] y = new double[b * n * c];
                AttentionKernels.linearForward(q, k, v, b, n, c, heads, s1, s2, sin, cos, y);
                return dot(y, gy);
            };
            double[] dq = new double[q.length], dk = new double[k.length], dv = new double[v.length];
            double[] ds1 = new double[s1.length], ds2 = new double[s2.length];
            AttentionKernels.linearBackward(q, k, v, b, n, c, heads, s1, s2, sin, cos, gy, dq, dk, dv, ds1, ds2);
            String what = "linearAttention B" + b + " " + h + "x" + w + " heads" + heads + " C" + c;
            check(what + " dq", loss, q, dq, TOL);
            check(what + " dk", loss, k, dk, TOL);
            check(what + " dv", loss, v, dv, TOL);
            check(what + " ds1", loss, s1, ds1, TOL);
            check(what + " ds2", loss, s2, ds2, TOL);
        }
    }

    @Test
    void softmaxAttention() {
        for (int[] cs : new int[][] {{2, 2, 3, 2, 8}, {1, 3, 1, 1, 4}}) {
            int b = cs[0], h = cs[1], w = cs[2], heads = cs[3], c = cs[4], n = h * w;
            float[][] t = RopeTables.compute(RopeTables.defaultAngles(c, heads), h, w);
            double[] sin = widen(t[0]), cos = widen(t[1]);
            double[] q = rnd(100, b * n * c), k = rnd(101, b * n * c), v = rnd(102, b * n * c), gy = rnd(103, b * n * c);
            DoubleSupplier loss = () -> {
                double[] y = new double[b * n * c];
                AttentionKernels.softmaxForward(q, k, v, b, n, c, heads, sin, cos, y);
                return dot(y, gy);
            };
            double[] dq = new double[q.length], dk = new double[k.length], dv = new double[v.length];
            AttentionKernels.softmaxBackward(q, k, v, b, n, c, heads, sin, cos, gy, dq, dk, dv);
            String what = "softmaxAttention B" + b + " " + h + "x" + w + " heads" + heads;
            check(what + " dq", loss, q, dq, TOL);
            check(what + " dk", loss, k, dk, TOL);
            check(what + " dv", loss, v, dv, TOL);
        }
    }
}
