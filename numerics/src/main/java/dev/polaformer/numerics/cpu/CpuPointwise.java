package dev.polaformer.numerics.cpu;

import dev.polaformer.numerics.HeapMemory;
import dev.polaformer.numerics.RopeTables;
import dev.polaformer.numerics.Tensor;

/** Activations, softmax, RoPE, broadcast arithmetic, reductions, pooling, loss. PLACEHOLDER. */
final class CpuPointwise {
    private final HeapMemory memory;
    private final Parallel parallel;

    CpuPointwise(HeapMemory memory, Parallel parallel) {
        this.memory = memory;
        this.parallel = parallel;
    }

    private static UnsupportedOperationException todo(String op) {
        return new UnsupportedOperationException("cpu " + op + ": not yet implemented");
    }

    void gelu(Tensor x, Tensor y) { throw todo("gelu"); }
    void geluBackward(Tensor x, Tensor dy, Tensor dx) { throw todo("geluBackward"); }
    void silu(Tensor x, Tensor y) { throw todo("silu"); }
    void siluBackward(Tensor x, Tensor dy, Tensor dx) { throw todo("siluBackward"); }
    void softmax(Tensor x, Tensor y) { throw todo("softmax"); }
    void softmaxBackward(Tensor y, Tensor dy, Tensor dx) { throw todo("softmaxBackward"); }
    void rope(Tensor x, RopeTables rope, Tensor y) { throw todo("rope"); }
    void ropeBackward(Tensor dy, RopeTables rope, Tensor dx) { throw todo("ropeBackward"); }
    void add(Tensor a, Tensor b, Tensor out) { throw todo("add"); }
    void mul(Tensor a, Tensor b, Tensor out) { throw todo("mul"); }
    void scale(Tensor x, float alpha, Tensor y) { throw todo("scale"); }
    void addScaled(Tensor x, float alpha, Tensor y) { throw todo("addScaled"); }
    void sumTo(Tensor x, Tensor out, boolean accumulate) { throw todo("sumTo"); }
    void mulSumTo(Tensor a, Tensor b, Tensor out, boolean accumulate) { throw todo("mulSumTo"); }
    void avgPool(Tensor x, Tensor y) { throw todo("avgPool"); }
    void avgPoolBackward(Tensor dy, Tensor dx) { throw todo("avgPoolBackward"); }
    double crossEntropy(Tensor logits, Tensor targets, Tensor dLogits) { throw todo("crossEntropy"); }
    double sumOfSquares(Tensor x) { throw todo("sumOfSquares"); }
}
