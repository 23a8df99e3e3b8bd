package dev.polaformer.numerics.cpu;

import dev.polaformer.numerics.HeapMemory;
import dev.polaformer.numerics.Tensor;

/** LayerNorm and BatchNorm over the last dimension. PLACEHOLDER until the vectorised kernels land. */
final class CpuNormalization {
    private final HeapMemory memory;
    private final Parallel parallel;

    CpuNormalization(HeapMemory memory, Parallel parallel) {
        this.memory = memory;
        this.parallel = parallel;
    }

    void layerNorm(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor y, Tensor mean, Tensor rstd) {
        throw new UnsupportedOperationException("cpu layerNorm: not yet implemented");
    }

    void layerNormBackward(Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dy, Tensor dx, Tensor dGamma, Tensor dBeta) {
        throw new UnsupportedOperationException("cpu layerNormBackward: not yet implemented");
    }

    void batchNormTrain(Tensor x, Tensor gamma, Tensor beta, float eps, float momentum, Tensor y, Tensor mean, Tensor rstd,
                        Tensor runningMean, Tensor runningVar) {
        throw new UnsupportedOperationException("cpu batchNormTrain: not yet implemented");
    }

    void batchNormEval(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar, float eps, Tensor y) {
        throw new UnsupportedOperationException("cpu batchNormEval: not yet implemented");
    }

    void batchNormBackward(Tensor x, Tensor gamma, Tensor mean, Tensor rstd, boolean batchStatistics, Tensor dy,
                           Tensor dx, Tensor dGamma, Tensor dBeta) {
        throw new UnsupportedOperationException("cpu batchNormBackward: not yet implemented");
    }
}
