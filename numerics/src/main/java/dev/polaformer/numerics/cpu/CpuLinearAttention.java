package dev.polaformer.numerics.cpu;

import dev.polaformer.numerics.HeapMemory;
import dev.polaformer.numerics.LinearAttention;
import dev.polaformer.numerics.RopeTables;
import dev.polaformer.numerics.Tensor;

/** The fused polarity-aware linear attention on the CPU. PLACEHOLDER. */
final class CpuLinearAttention implements LinearAttention {
    private final HeapMemory memory;
    private final Parallel parallel;

    CpuLinearAttention(HeapMemory memory, Parallel parallel) {
        this.memory = memory;
        this.parallel = parallel;
    }

    @Override
    public void forward(Tensor q, Tensor k, Tensor v, int heads, Tensor s1, Tensor s2, RopeTables rope, Tensor out) {
        throw new UnsupportedOperationException("cpu linearAttention: not yet implemented");
    }

    @Override
    public void backward(Tensor q, Tensor k, Tensor v, int heads, Tensor s1, Tensor s2, RopeTables rope, Tensor dOut,
                         Tensor dq, Tensor dk, Tensor dv, Tensor ds1, Tensor ds2) {
        throw new UnsupportedOperationException("cpu linearAttentionBackward: not yet implemented");
    }
}
