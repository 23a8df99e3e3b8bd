package dev.polaformer.numerics.cpu;

import dev.polaformer.numerics.HeapMemory;
import dev.polaformer.numerics.Tensor;

/** Dense and depthwise convolutions, channels-last. PLACEHOLDER until the vectorised kernels land. */
final class CpuConvolution {
    private final HeapMemory memory;
    private final Parallel parallel;

    CpuConvolution(HeapMemory memory, Parallel parallel) {
        this.memory = memory;
        this.parallel = parallel;
    }

    void conv2d(Tensor x, Tensor weight, Tensor bias, int stride, int padding, Tensor y) {
        throw new UnsupportedOperationException("cpu conv2d: not yet implemented");
    }

    void conv2dBackward(Tensor x, Tensor weight, Tensor dy, int stride, int padding, Tensor dx, Tensor dWeight, Tensor dBias) {
        throw new UnsupportedOperationException("cpu conv2dBackward: not yet implemented");
    }

    void depthwiseConv2d(Tensor x, Tensor weight, Tensor bias, int padding, Tensor y) {
        throw new UnsupportedOperationException("cpu depthwiseConv2d: not yet implemented");
    }

    void depthwiseConv2dBackward(Tensor x, Tensor weight, Tensor dy, int padding, Tensor dx, Tensor dWeight, Tensor dBias) {
        throw new UnsupportedOperationException("cpu depthwiseConv2dBackward: not yet implemented");
    }
}
