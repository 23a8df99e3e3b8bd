package dev.polaformer.numerics.reference;

import dev.polaformer.numerics.ArrayBackend;
import dev.polaformer.numerics.ConvGeometry;
import dev.polaformer.numerics.HeapMemory;
import dev.polaformer.numerics.MatmulGeometry;
import dev.polaformer.numerics.NormGeometry;
import dev.polaformer.numerics.LinearAttention;
import dev.polaformer.numerics.RopeTables;
import dev.polaformer.numerics.Shapes;
import dev.polaformer.numerics.SoftmaxAttention;
import dev.polaformer.numerics.Tensor;

/**
 * The oracle: every op is computed in double by the kernels of this package ({@link DenseKernels},
 * {@link NormKernels}, {@link PointwiseKernels}, {@link AttentionKernels}) from a widened copy of its float
 * inputs, and rounded once when stored. Slow by design; clear and exact is its job.
 */
public final class ReferenceBackend extends ArrayBackend {
    public static final String ID = "reference";

    private final Ops ops = new Ops(memory);

    public ReferenceBackend() {
        super(ID);
    }

    @Override
    public String id() {
        return ID;
    }

    @Override
    public String describe() {
        return "plain Java, double accumulation (the test oracle; slow)";
    }

    // ================================================================ memory

    /** Zero-filled, so that a reference result never depends on what a pooled array held before. */
    @Override
    public Tensor empty(int... shape) {
        return memory.zeros(shape);
    }

    // ================================================================ matrix multiply

    @Override
    public void matmul(Tensor a, boolean transA, Tensor b, boolean transB, Tensor c, float alpha, float beta) {
        var g = MatmulGeometry.of("matmul", a, transA, b, transB, c);
        double[] cd = beta == 0 ? new double[c.size()] : ops.in("matmul", c);
        DenseKernels.matmul(g.batch(), g.m(), g.n(), g.k(), ops.in("matmul", a), g.aBatched(), transA,
                ops.in("matmul", b), g.bBatched(), transB, cd, alpha, beta);
        ops.out(cd, c);
    }

    // ================================================================ convolution

    @Override
    public void conv2d(Tensor x, Tensor weight, Tensor bias, int stride, int padding, Tensor y) {
        var g = ConvGeometry.dense("conv2d", x, weight, bias, stride, padding, y);
        double[] yd = new double[y.size()];
        DenseKernels.conv2d(ops.in("conv2d", x), g.b(), g.h(), g.w(), g.cin(), ops.in("conv2d", weight), g.cout(),
                g.kh(), g.kw(), bias == null ? null : ops.in("conv2d", bias), stride, padding, yd);
        ops.out(yd, y);
    }

    @Override
    public void conv2dBackward(Tensor x, Tensor weight, Tensor dy, int stride, int padding,
                               Tensor dx, Tensor dWeight, Tensor dBias) {
        String op = "conv2dBackward";
        var g = ConvGeometry.dense(op, x, weight, null, stride, padding, dy);
        ConvGeometry.requireGrads(op, x, weight, dx, dWeight, dBias, g.cout());
        double[] dxd = dx == null ? null : new double[x.size()];
        double[] dwd = dWeight == null ? null : ops.in(op, dWeight);
        double[] dbd = dBias == null ? null : ops.in(op, dBias);
        DenseKernels.conv2dBackward(ops.in(op, x), g.b(), g.h(), g.w(), g.cin(), ops.in(op, weight), g.cout(),
                g.kh(), g.kw(), stride, padding, ops.in(op, dy), dxd, dwd, dbd);
        ops.outIfPresent(dxd, dx);
        ops.outIfPresent(dwd, dWeight);
        ops.outIfPresent(dbd, dBias);
    }

    @Override
    public void depthwiseConv2d(Tensor x, Tensor weight, Tensor bias, int padding, Tensor y) {
        var g = ConvGeometry.depthwise("depthwiseConv2d", x, weight, bias, padding, y);
        double[] yd = new double[y.size()];
        DenseKernels.depthwiseConv2d(ops.in("depthwiseConv2d", x), g.b(), g.h(), g.w(), g.cin(),
                ops.in("depthwiseConv2d", weight), g.kh(), bias == null ? null : ops.in("depthwiseConv2d", bias),
                padding, yd);
        ops.out(yd, y);
    }

    @Override
    public void depthwiseConv2dBackward(Tensor x, Tensor weight, Tensor dy, int padding,
                                        Tensor dx, Tensor dWeight, Tensor dBias) {
        String op = "depthwiseConv2dBackward";
        var g = ConvGeometry.depthwise(op, x, weight, null, padding, dy);
        ConvGeometry.requireGrads(op, x, weight, dx, dWeight, dBias, g.cout());
        double[] dxd = dx == null ? null : new double[x.size()];
        double[] dwd = dWeight == null ? null : ops.in(op, dWeight);
        double[] dbd = dBias == null ? null : ops.in(op, dBias);
        DenseKernels.depthwiseConv2dBackward(ops.in(op, x), g.b(), g.h(), g.w(), g.cin(), ops.in(op, weight),
                g.kh(), padding, ops.in(op, dy), dxd, dwd, dbd);
        ops.outIfPresent(dxd, dx);
        ops.outIfPresent(dwd, dWeight);
        ops.outIfPresent(dbd, dBias);
    }

    // ================================================================ normalisation

    @Override
    public void layerNorm(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor y, Tensor mean, Tensor rstd) {
        var g = NormGeometry.rows("layerNorm", x, gamma, beta, y, mean, rstd);
        double[] yd = new double[x.size()], md = new double[g.rows()], rd = new double[g.rows()];
        NormKernels.layerNorm(ops.in("layerNorm", x), g.rows(), g.channels(), ops.in("layerNorm", gamma),
                ops.in("layerNorm", beta), eps, yd, md, rd);
        ops.out(yd, y);
        ops.outIfPresent(mean == null ? null : md, mean);
        ops.outIfPresent(rstd == null ? null : rd, rstd);
    }

    @Override
    public void layerNormBackward(Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dy,
                                  Tensor dx, Tensor dGamma, Tensor dBeta) {
        String op = "layerNormBackward";
        var g = NormGeometry.rows(op, x, gamma, null, dy, mean, rstd);
        NormGeometry.requireGrads(op, x, gamma, dx, dGamma, dBeta);
        double[] dxd = dx == null ? null : new double[x.size()];
        double[] dgd = dGamma == null ? null : ops.in(op, dGamma), dbd = dBeta == null ? null : ops.in(op, dBeta);
        NormKernels.layerNormBackward(ops.in(op, x), g.rows(), g.channels(), ops.in(op, gamma), ops.in(op, mean),
                ops.in(op, rstd), ops.in(op, dy), dxd, dgd, dbd);
        ops.outIfPresent(dxd, dx);
        ops.outIfPresent(dgd, dGamma);
        ops.outIfPresent(dbd, dBeta);
    }

    @Override
    public void batchNormTrain(Tensor x, Tensor gamma, Tensor beta, float eps, float momentum, Tensor y,
                               Tensor mean, Tensor rstd, Tensor runningMean, Tensor runningVar) {
        String op = "batchNormTrain";
        var g = NormGeometry.columns(op, x, gamma, beta, y, mean, rstd, runningMean, runningVar);
        double[] yd = new double[x.size()], md = new double[g.channels()], rd = new double[g.channels()];
        double[] rm = runningMean == null ? null : ops.in(op, runningMean);
        double[] rv = runningVar == null ? null : ops.in(op, runningVar);
        NormKernels.batchNormTrain(ops.in(op, x), g.rows(), g.channels(), ops.in(op, gamma), ops.in(op, beta), eps,
                momentum, yd, md, rd, rm, rv);
        ops.out(yd, y);
        ops.outIfPresent(mean == null ? null : md, mean);
        ops.outIfPresent(rstd == null ? null : rd, rstd);
        ops.outIfPresent(rm, runningMean);
        ops.outIfPresent(rv, runningVar);
    }

    @Override
    public void batchNormEval(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar, float eps,
                              Tensor y) {
        String op = "batchNormEval";
        var g = NormGeometry.columns(op, x, gamma, beta, y, null, null, runningMean, runningVar);
        double[] yd = new double[x.size()];
        NormKernels.batchNormEval(ops.in(op, x), g.rows(), g.channels(), ops.in(op, gamma), ops.in(op, beta),
                ops.in(op, runningMean), ops.in(op, runningVar), eps, yd);
        ops.out(yd, y);
    }

    @Override
    public void batchNormBackward(Tensor x, Tensor gamma, Tensor mean, Tensor rstd, boolean batchStatistics,
                                  Tensor dy, Tensor dx, Tensor dGamma, Tensor dBeta) {
        String op = "batchNormBackward";
        var g = NormGeometry.columns(op, x, gamma, null, dy, mean, rstd, null, null);
        NormGeometry.requireGrads(op, x, gamma, dx, dGamma, dBeta);
        double[] dxd = dx == null ? null : new double[x.size()];
        double[] dgd = dGamma == null ? null : ops.in(op, dGamma), dbd = dBeta == null ? null : ops.in(op, dBeta);
        NormKernels.batchNormBackward(ops.in(op, x), g.rows(), g.channels(), ops.in(op, gamma), ops.in(op, mean),
                ops.in(op, rstd), batchStatistics, ops.in(op, dy), dxd, dgd, dbd);
        ops.outIfPresent(dxd, dx);
        ops.outIfPresent(dgd, dGamma);
        ops.outIfPresent(dbd, dBeta);
    }

    // ================================================================ activations

    @Override
    public void gelu(Tensor x, Tensor y) {
        ops.map("gelu", x, y, PointwiseKernels::gelu);
    }

    @Override
    public void geluBackward(Tensor x, Tensor dy, Tensor dx) {
        ops.mapGrad("geluBackward", x, dy, dx, PointwiseKernels::geluGrad);
    }

    @Override
    public void silu(Tensor x, Tensor y) {
        ops.map("silu", x, y, PointwiseKernels::silu);
    }

    @Override
    public void siluBackward(Tensor x, Tensor dy, Tensor dx) {
        ops.mapGrad("siluBackward", x, dy, dx, PointwiseKernels::siluGrad);
    }

    @Override
    public void softmax(Tensor x, Tensor y) {
        Shapes.requireSameShape("softmax", "x", x, "y", y);
        int n = x.rank() == 0 ? 1 : x.dim(-1), rows = n == 0 ? 0 : x.size() / n;
        double[] yd = new double[x.size()];
        PointwiseKernels.softmax(ops.in("softmax", x), rows, n, yd);
        ops.out(yd, y);
    }

    @Override
    public void softmaxBackward(Tensor y, Tensor dy, Tensor dx) {
        Shapes.requireSameShape("softmaxBackward", "y", y, "dy", dy);
        Shapes.requireSameShape("softmaxBackward", "y", y, "dx", dx);
        int n = y.rank() == 0 ? 1 : y.dim(-1), rows = n == 0 ? 0 : y.size() / n;
        double[] dxd = new double[y.size()];
        PointwiseKernels.softmaxBackward(ops.in("softmaxBackward", y), ops.in("softmaxBackward", dy), rows, n, dxd);
        ops.out(dxd, dx);
    }

    @Override
    public void rope(Tensor x, RopeTables rope, Tensor y) {
        ops.rope("rope", x, rope, y, false);
    }

    @Override
    public void ropeBackward(Tensor dy, RopeTables rope, Tensor dx) {
        ops.rope("ropeBackward", dy, rope, dx, true);
    }

    // ================================================================ elementwise and reductions

    @Override
    public void add(Tensor a, Tensor b, Tensor out) {
        ops.broadcast("add", a, b, out, Double::sum);
    }

    @Override
    public void mul(Tensor a, Tensor b, Tensor out) {
        ops.broadcast("mul", a, b, out, (u, v) -> u * v);
    }

    @Override
    public void scale(Tensor x, float alpha, Tensor y) {
        ops.map("scale", x, y, u -> alpha * u);
    }

    @Override
    public void addScaled(Tensor x, float alpha, Tensor y) {
        Shapes.requireSameShape("addScaled", "x", x, "y", y);
        double[] xd = ops.in("addScaled", x), yd = ops.in("addScaled", y);
        for (int i = 0; i < yd.length; i++) yd[i] += alpha * xd[i];
        ops.out(yd, y);
    }

    @Override
    public void sumTo(Tensor x, Tensor out, boolean accumulate) {
        ops.reduceTo("sumTo", x, null, out, accumulate);
    }

    @Override
    public void mulSumTo(Tensor a, Tensor b, Tensor out, boolean accumulate) {
        ops.reduceTo("mulSumTo", a, b, out, accumulate);
    }

    @Override
    public void avgPool(Tensor x, Tensor y) {
        Shapes.requireRank("avgPool", "x", x, 4);
        Shapes.requireShape("avgPool", "y", y, x.dim(0), x.dim(3));
        double[] yd = new double[y.size()];
        PointwiseKernels.avgPool(ops.in("avgPool", x), x.dim(0), x.dim(1) * x.dim(2), x.dim(3), yd);
        ops.out(yd, y);
    }

    @Override
    public void avgPoolBackward(Tensor dy, Tensor dx) {
        Shapes.requireRank("avgPoolBackward", "dx", dx, 4);
        Shapes.requireShape("avgPoolBackward", "dy", dy, dx.dim(0), dx.dim(3));
        double[] dxd = new double[dx.size()];
        PointwiseKernels.avgPoolBackward(ops.in("avgPoolBackward", dy), dx.dim(0), dx.dim(1) * dx.dim(2), dx.dim(3), dxd);
        ops.out(dxd, dx);
    }

    @Override
    public double crossEntropy(Tensor logits, Tensor targets, Tensor dLogits) {
        String op = "crossEntropy";
        Shapes.requireRank(op, "logits", logits, 2);
        Shapes.requireSameShape(op, "logits", logits, "targets", targets);
        if (dLogits != null) Shapes.requireSameShape(op, "logits", logits, "dLogits", dLogits);
        double[] l = ops.in(op, logits), t = ops.in(op, targets);
        ops.requireFinite(op, "logits", logits, l);
        ops.requireFinite(op, "targets", targets, t);
        double[] g = dLogits == null ? null : new double[l.length];
        double loss = PointwiseKernels.crossEntropy(l, t, logits.dim(0), logits.dim(1), g);
        ops.outIfPresent(g, dLogits);
        return loss;
    }

    @Override
    public double sumOfSquares(Tensor x) {
        double s = 0;
        for (double v : ops.in("sumOfSquares", x)) s += v * v;
        return s;
    }

    // ================================================================ optimiser

    @Override
    public void adamW(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps,
                      float weightDecay, long step) {
        String op = "adamW";
        for (Tensor t : new Tensor[] {grad, m, v}) Shapes.requireSameShape(op, "param", param, "state", t);
        double[] p = ops.in(op, param), g = ops.in(op, grad), md = ops.in(op, m), vd = ops.in(op, v);
        double c1 = 1 - Math.pow(beta1, step), c2 = Math.sqrt(1 - Math.pow(beta2, step));
        for (int i = 0; i < p.length; i++) {
            p[i] *= 1 - (double) lr * weightDecay;
            md[i] = beta1 * md[i] + (1 - beta1) * g[i];
            vd[i] = beta2 * vd[i] + (1 - beta2) * g[i] * g[i];
            p[i] -= lr / c1 * md[i] / (Math.sqrt(vd[i]) / c2 + eps);
        }
        ops.out(p, param);
        ops.out(md, m);
        ops.out(vd, v);
    }

    // ================================================================ attention

    @Override
    public LinearAttention linearAttention() {
        return linear;
    }

    @Override
    public SoftmaxAttention softmaxAttention() {
        return softmax;
    }

    private final LinearAttention linear = new LinearAttention() {
        @Override
        public void forward(Tensor q, Tensor k, Tensor v, int heads, Tensor s1, Tensor s2, RopeTables rope, Tensor out) {
            String op = "linearAttention";
            LinearAttention.check(op, q, k, v, heads, s1, s2, rope, out);
            double[] od = new double[out.size()];
            double[] kd = ops.in(op, k);
            requireKeysFinite(op, kd, q.dim(0), q.dim(1), q.dim(2), heads);
            AttentionKernels.linearForward(ops.in(op, q), kd, ops.in(op, v), q.dim(0), q.dim(1), q.dim(2), heads,
                    ops.in(op, s1), ops.in(op, s2), ops.in(op, rope.sin()), ops.in(op, rope.cos()), od);
            ops.out(od, out);
        }

        @Override
        public void backward(Tensor q, Tensor k, Tensor v, int heads, Tensor s1, Tensor s2, RopeTables rope,
                             Tensor dOut, Tensor dq, Tensor dk, Tensor dv, Tensor ds1, Tensor ds2) {
            String op = "linearAttentionBackward";
            LinearAttention.check(op, q, k, v, heads, s1, s2, rope, dOut);
            LinearAttention.check(op, dq, dk, dv, heads, ds1, ds2, rope, dOut);
            double[] dqd = new double[q.size()], dkd = new double[k.size()], dvd = new double[v.size()];
            double[] ds1d = ops.in(op, ds1), ds2d = ops.in(op, ds2);
            double[] kd = ops.in(op, k);
            requireKeysFinite(op, kd, q.dim(0), q.dim(1), q.dim(2), heads);
            AttentionKernels.linearBackward(ops.in(op, q), kd, ops.in(op, v), q.dim(0), q.dim(1), q.dim(2), heads,
                    ops.in(op, s1), ops.in(op, s2), ops.in(op, rope.sin()), ops.in(op, rope.cos()), ops.in(op, dOut),
                    dqd, dkd, dvd, ds1d, ds2d);
            ops.out(dqd, dq);
            ops.out(dkd, dk);
            ops.out(dvd, dv);
            ops.out(ds1d, ds1);
            ops.out(ds2d, ds2);
        }
    };

    /** exp(|k|) must stay finite in float32, as the fast backends compute it there. */
    private static void requireKeysFinite(String op, double[] k, int b, int n, int c, int heads) {
        for (int i = 0; i < k.length; i++) {
            if (!(Math.abs(k[i]) < LinearAttention.MAX_KEY)) {
                int token = i / c % n, batch = i / (c * n), head = i % c / (c / heads);
                throw LinearAttention.badKey(op, k[i], batch, token, head);
            }
        }
    }

    private final SoftmaxAttention softmax = new SoftmaxAttention() {
        @Override
        public void forward(Tensor q, Tensor k, Tensor v, int heads, RopeTables rope, Tensor out) {
            String op = "softmaxAttention";
            SoftmaxAttention.check(op, q, k, v, heads, rope, out);
            double[] od = new double[out.size()];
            AttentionKernels.softmaxForward(ops.in(op, q), ops.in(op, k), ops.in(op, v), q.dim(0), q.dim(1), q.dim(2),
                    heads, ops.in(op, rope.sin()), ops.in(op, rope.cos()), od);
            ops.out(od, out);
        }

        @Override
        public void backward(Tensor q, Tensor k, Tensor v, int heads, RopeTables rope, Tensor dOut,
                             Tensor dq, Tensor dk, Tensor dv) {
            String op = "softmaxAttentionBackward";
            SoftmaxAttention.check(op, q, k, v, heads, rope, dOut);
            SoftmaxAttention.check(op, dq, dk, dv, heads, rope, dOut);
            double[] dqd = new double[q.size()], dkd = new double[k.size()], dvd = new double[v.size()];
            AttentionKernels.softmaxBackward(ops.in(op, q), ops.in(op, k), ops.in(op, v), q.dim(0), q.dim(1), q.dim(2),
                    heads, ops.in(op, rope.sin()), ops.in(op, rope.cos()), ops.in(op, dOut), dqd, dkd, dvd);
            ops.out(dqd, dq);
            ops.out(dkd, dk);
            ops.out(dvd, dv);
        }
    };
}
