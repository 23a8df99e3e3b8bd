package dev.polaformer.numerics.cpu;

import dev.polaformer.numerics.HeapMemory;
import dev.polaformer.numerics.RopeTables;
import dev.polaformer.numerics.SoftmaxAttention;
import dev.polaformer.numerics.Tensor;

/** Softmax attention with RoPE on the CPU. PLACEHOLDER. */
final class CpuSoftmaxAttention implements SoftmaxAttention {
    private final HeapMemory memory;
    private final Parallel parallel;

    CpuSoftmaxAttention(HeapMemory memory, Parallel parallel) {
        this.memory = memory;
        this.parallel = parallel;
    }

    @Override
    public void forward(Tensor q, Tensor k, Tensor v, int heads, RopeTables rope, Tensor out) {
        throw new UnsupportedOperationException("cpu softmaxAttention: not yet implemented");
    }

    @Override
    public void backward(Tensor q, Tensor k, Tensor v, int heads, RopeTables rope, Tensor dOut,
                         Tensor dq, Tensor dk, Tensor dv) {
        throw new UnsupportedOperationException("cpu softmaxAttentionBackward: not yet implemented");
    }
}
