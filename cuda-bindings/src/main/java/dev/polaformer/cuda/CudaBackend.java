package dev.polaformer.cuda;

import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.LinearAttention;
import dev.polaformer.numerics.RopeTables;
import dev.polaformer.numerics.SoftmaxAttention;
import dev.polaformer.numerics.Tensor;

/**
 * PLACEHOLDER so that {@link CudaProvider#create()} compiles on the bindings branch; the backend branch brings
 * the real class, which replaces this one when the branches are merged. It loads the libraries (so a machine
 * with CUDA exercises {@link CudaLibraries#load()}) and then refuses every operation.
 */
public final class CudaBackend implements Backend {

    public CudaBackend() {
        CudaLibraries.load();
    }

    @Override
    public String id() {
        return CudaProvider.ID;
    }

    @Override
    public String describe() {
        return "cuda (placeholder: the backend is not in this build yet)";
    }

    @Override
    public Tensor zeros(int... shape) {
        throw notBuilt();
    }

    @Override
    public Tensor empty(int... shape) {
        throw notBuilt();
    }

    @Override
    public Tensor fromArray(float[] values, int... shape) {
        throw notBuilt();
    }

    @Override
    public void copy(Tensor src, Tensor dst) {
        throw notBuilt();
    }

    @Override
    public void fill(Tensor dst, float value) {
        throw notBuilt();
    }

    @Override
    public void matmul(Tensor a, boolean transA, Tensor b, boolean transB, Tensor c, float alpha, float beta) {
        throw notBuilt();
    }

    @Override
    public void conv2d(Tensor x, Tensor weight, Tensor bias, int stride, int padding, Tensor y) {
        throw notBuilt();
    }

    @Override
    public void conv2dBackward(Tensor x, Tensor weight, Tensor dy, int stride, int padding, Tensor dx, Tensor dWeight, Tensor dBias) {
        throw notBuilt();
    }

    @Override
    public void depthwiseConv2d(Tensor x, Tensor weight, Tensor bias, int padding, Tensor y) {
        throw notBuilt();
    }

    @Override
    public void depthwiseConv2dBackward(Tensor x, Tensor weight, Tensor dy, int padding, Tensor dx, Tensor dWeight, Tensor dBias) {
        throw notBuilt();
    }

    @Override
    public void layerNorm(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor y, Tensor mean, Tensor rstd) {
        throw notBuilt();
    }

    @Override
    public void layerNormBackward(Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dy, Tensor dx, Tensor dGamma, Tensor dBeta) {
        throw notBuilt();
    }

    @Override
    public void batchNormTrain(Tensor x, Tensor gamma, Tensor beta, float eps, float momentum, Tensor y, Tensor mean, Tensor rstd, Tensor runningMean, Tensor runningVar) {
        throw notBuilt();
    }

    @Override
    public void batchNormEval(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar, float eps, Tensor y) {
        throw notBuilt();
    }

    @Override
    public void batchNormBackward(Tensor x, Tensor gamma, Tensor mean, Tensor rstd, boolean batchStatistics, Tensor dy, Tensor dx, Tensor dGamma, Tensor dBeta) {
        throw notBuilt();
    }

    @Override
    public void gelu(Tensor x, Tensor y) {
        throw notBuilt();
    }

    @Override
    public void geluBackward(Tensor x, Tensor dy, Tensor dx) {
        throw notBuilt();
    }

    @Override
    public void silu(Tensor x, Tensor y) {
        throw notBuilt();
    }

    @Override
    public void siluBackward(Tensor x, Tensor dy, Tensor dx) {
        throw notBuilt();
    }

    @Override
    public void softmax(Tensor x, Tensor y) {
        throw notBuilt();
    }

    @Override
    public void softmaxBackward(Tensor y, Tensor dy, Tensor dx) {
        throw notBuilt();
    }

    @Override
    public void rope(Tensor x, RopeTables rope, Tensor y) {
        throw notBuilt();
    }

    @Override
    public void ropeBackward(Tensor dy, RopeTables rope, Tensor dx) {
        throw notBuilt();
    }

    @Override
    public void add(Tensor a, Tensor b, Tensor out) {
        throw notBuilt();
    }

    @Override
    public void mul(Tensor a, Tensor b, Tensor out) {
        throw notBuilt();
    }

    @Override
    public void scale(Tensor x, float alpha, Tensor y) {
        throw notBuilt();
    }

    @Override
    public void addScaled(Tensor x, float alpha, Tensor y) {
        throw notBuilt();
    }

    @Override
    public void sumTo(Tensor x, Tensor out, boolean accumulate) {
        throw notBuilt();
    }

    @Override
    public void mulSumTo(Tensor a, Tensor b, Tensor out, boolean accumulate) {
        throw notBuilt();
    }

    @Override
    public void avgPool(Tensor x, Tensor y) {
        throw notBuilt();
    }

    @Override
    public void avgPoolBackward(Tensor dy, Tensor dx) {
        throw notBuilt();
    }

    @Override
    public double crossEntropy(Tensor logits, Tensor targets, Tensor dLogits) {
        throw notBuilt();
    }

    @Override
    public double sumOfSquares(Tensor x) {
        throw notBuilt();
    }

    @Override
    public void adamW(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps, float weightDecay, long step) {
        throw notBuilt();
    }

    @Override
    public LinearAttention linearAttention() {
        throw notBuilt();
    }

    @Override
    public SoftmaxAttention softmaxAttention() {
        throw notBuilt();
    }

    private static UnsupportedOperationException notBuilt() {
        return new UnsupportedOperationException("the CUDA backend is not in this build yet (bindings branch placeholder)");
    }
}
