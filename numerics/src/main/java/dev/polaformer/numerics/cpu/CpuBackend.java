package dev.polaformer.numerics.cpu;

import dev.polaformer.numerics.ArrayBackend;
import dev.polaformer.numerics.HeapMemory;
import dev.polaformer.numerics.LinearAttention;
import dev.polaformer.numerics.RopeTables;
import dev.polaformer.numerics.SoftmaxAttention;
import dev.polaformer.numerics.Tensor;

/**
 * The Vector API backend. Memory is Java arrays ({@link HeapMemory}); each family of ops lives in its own
 * class ({@link CpuMatmul}, {@link CpuConvolution}, {@link CpuNormalization}, {@link CpuPointwise},
 * {@link CpuLinearAttention}, {@link CpuSoftmaxAttention}), which checks the arguments and runs the kernels
 * on the shared thread pool ({@link Parallel}) with the one vector species ({@link Simd}).
 */
public final class CpuBackend extends ArrayBackend {
    public static final String ID = "cpu";

    private final Parallel parallel;
    private final CpuMatmul matmul;
    private final CpuConvolution convolution;
    private final CpuNormalization normalization;
    private final CpuPointwise pointwise;
    private final CpuLinearAttention linearAttention;
    private final CpuSoftmaxAttention softmaxAttention;
    private final CpuOptimizer optimizer;

    public CpuBackend(int threads) {
        super(ID);
        this.parallel = new Parallel(threads);
        this.matmul = new CpuMatmul(memory, parallel);
        this.convolution = new CpuConvolution(memory, parallel);
        this.normalization = new CpuNormalization(memory, parallel);
        this.pointwise = new CpuPointwise(memory, parallel);
        this.linearAttention = new CpuLinearAttention(memory, parallel);
        this.softmaxAttention = new CpuSoftmaxAttention(memory, parallel);
        this.optimizer = new CpuOptimizer(memory, parallel);
    }

    @Override
    public String id() {
        return ID;
    }

    @Override
    public String describe() {
        return Simd.describe() + ", " + parallel.threads() + " thread" + (parallel.threads() == 1 ? "" : "s");
    }

    public Parallel parallel() {
        return parallel;
    }

    @Override
    public boolean canRecord() {
        return true;
    }

    /**
     * Records the loops {@code work} hands to the thread pool ({@link Parallel#record}). Every op of this backend
     * writes tensor memory only inside such loops, including the copies and fills that {@link HeapMemory} would
     * do on the calling thread, and the ops' temporary arrays released during the recording stay out of the
     * pools, since the recorded loops still use them.
     */
    @Override
    public Recording record(Runnable work) {
        Thread self = Thread.currentThread();
        // inside the pool's recording, which admits one recording thread at a time
        return parallel.record(() -> {
            memory.withholdReleasesOf(self);
            Scratch.withholdReleasesOf(self, true);
            try {
                work.run();
            } finally {
                memory.withholdReleasesOf(null);
                Scratch.withholdReleasesOf(self, false);
            }
        });
    }

    @Override
    public void copy(Tensor src, Tensor dst) {
        parallel.forEachHere(1, i -> memory.copy(src, dst));
    }

    @Override
    public void fill(Tensor dst, float value) {
        parallel.forEachHere(1, i -> memory.fill(dst, value));
    }

    // ================================================================ matrix multiply

    @Override
    public void matmul(Tensor a, boolean transA, Tensor b, boolean transB, Tensor c, float alpha, float beta) {
        matmul.matmul(a, transA, b, transB, c, alpha, beta);
    }

    @Override
    public void linear(Tensor x, Tensor weight, Tensor bias, Tensor y) {
        if (matmul.linearWithConstant(x, weight, bias, false, y)) return;
        matmul(x, false, weight, true, y, 1f, 0f);
        if (bias != null) add(y, bias, y);
    }

    @Override
    public void linearGelu(Tensor x, Tensor weight, Tensor bias, Tensor y) {
        if (matmul.linearWithConstant(x, weight, bias, true, y)) return;
        linear(x, weight, bias, y);
        gelu(y, y);
    }

    // ================================================================ convolution

    @Override
    public void conv2d(Tensor x, Tensor weight, Tensor bias, int stride, int padding, Tensor y) {
        convolution.conv2d(x, weight, bias, stride, padding, y);
    }

    @Override
    public void conv2dBackward(Tensor x, Tensor weight, Tensor dy, int stride, int padding,
                               Tensor dx, Tensor dWeight, Tensor dBias) {
        convolution.conv2dBackward(x, weight, dy, stride, padding, dx, dWeight, dBias);
    }

    @Override
    public void depthwiseConv2d(Tensor x, Tensor weight, Tensor bias, int padding, Tensor y) {
        convolution.depthwiseConv2d(x, weight, bias, padding, y);
    }

    @Override
    public void depthwiseConv2dBackward(Tensor x, Tensor weight, Tensor dy, int padding,
                                        Tensor dx, Tensor dWeight, Tensor dBias) {
        convolution.depthwiseConv2dBackward(x, weight, dy, padding, dx, dWeight, dBias);
    }

    // ================================================================ normalisation

    @Override
    public void layerNorm(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor y, Tensor mean, Tensor rstd) {
        normalization.layerNorm(x, gamma, beta, eps, y, mean, rstd);
    }

    @Override
    public void layerNormBackward(Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dy,
                                  Tensor dx, Tensor dGamma, Tensor dBeta) {
        normalization.layerNormBackward(x, gamma, mean, rstd, dy, dx, dGamma, dBeta);
    }

    @Override
    public void batchNormTrain(Tensor x, Tensor gamma, Tensor beta, float eps, float momentum, Tensor y,
                               Tensor mean, Tensor rstd, Tensor runningMean, Tensor runningVar) {
        normalization.batchNormTrain(x, gamma, beta, eps, momentum, y, mean, rstd, runningMean, runningVar);
    }

    @Override
    public void batchNormEval(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar, float eps,
                              Tensor y) {
        normalization.batchNormEval(x, gamma, beta, runningMean, runningVar, eps, y);
    }

    @Override
    public void batchNormBackward(Tensor x, Tensor gamma, Tensor mean, Tensor rstd, boolean batchStatistics,
                                  Tensor dy, Tensor dx, Tensor dGamma, Tensor dBeta) {
        normalization.batchNormBackward(x, gamma, mean, rstd, batchStatistics, dy, dx, dGamma, dBeta);
    }

    // ================================================================ activations

    @Override
    public void gelu(Tensor x, Tensor y) {
        pointwise.gelu(x, y);
    }

    @Override
    public void geluBackward(Tensor x, Tensor dy, Tensor dx) {
        pointwise.geluBackward(x, dy, dx);
    }

    @Override
    public void silu(Tensor x, Tensor y) {
        pointwise.silu(x, y);
    }

    @Override
    public void siluBackward(Tensor x, Tensor dy, Tensor dx) {
        pointwise.siluBackward(x, dy, dx);
    }

    @Override
    public void softmax(Tensor x, Tensor y) {
        pointwise.softmax(x, y);
    }

    @Override
    public void softmaxBackward(Tensor y, Tensor dy, Tensor dx) {
        pointwise.softmaxBackward(y, dy, dx);
    }

    @Override
    public void rope(Tensor x, RopeTables rope, Tensor y) {
        pointwise.rope(x, rope, y);
    }

    @Override
    public void ropeBackward(Tensor dy, RopeTables rope, Tensor dx) {
        pointwise.ropeBackward(dy, rope, dx);
    }

    // ================================================================ elementwise and reductions

    @Override
    public void add(Tensor a, Tensor b, Tensor out) {
        pointwise.add(a, b, out);
    }

    @Override
    public void mul(Tensor a, Tensor b, Tensor out) {
        pointwise.mul(a, b, out);
    }

    @Override
    public void scale(Tensor x, float alpha, Tensor y) {
        pointwise.scale(x, alpha, y);
    }

    @Override
    public void addScaled(Tensor x, float alpha, Tensor y) {
        pointwise.addScaled(x, alpha, y);
    }

    @Override
    public void sumTo(Tensor x, Tensor out, boolean accumulate) {
        pointwise.sumTo(x, out, accumulate);
    }

    @Override
    public void mulSumTo(Tensor a, Tensor b, Tensor out, boolean accumulate) {
        pointwise.mulSumTo(a, b, out, accumulate);
    }

    @Override
    public void avgPool(Tensor x, Tensor y) {
        pointwise.avgPool(x, y);
    }

    @Override
    public void avgPoolBackward(Tensor dy, Tensor dx) {
        pointwise.avgPoolBackward(dy, dx);
    }

    @Override
    public double crossEntropy(Tensor logits, Tensor targets, Tensor dLogits) {
        return pointwise.crossEntropy(logits, targets, dLogits);
    }

    @Override
    public double sumOfSquares(Tensor x) {
        return pointwise.sumOfSquares(x);
    }

    // ================================================================ optimiser

    @Override
    public void adamW(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps,
                      float weightDecay, long step) {
        optimizer.adamW(param, grad, m, v, lr, beta1, beta2, eps, weightDecay, step);
    }

    // ================================================================ attention

    @Override
    public LinearAttention linearAttention() {
        return linearAttention;
    }

    @Override
    public SoftmaxAttention softmaxAttention() {
        return softmaxAttention;
    }
}
