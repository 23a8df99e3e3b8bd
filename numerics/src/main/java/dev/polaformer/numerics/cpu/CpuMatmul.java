package dev.polaformer.numerics.cpu;

import dev.polaformer.numerics.HeapMemory;
import dev.polaformer.numerics.MatmulGeometry;
import dev.polaformer.numerics.Tensor;

/**
 * {@link dev.polaformer.numerics.Backend#matmul} on {@link Sgemm}: checks the shapes ({@link MatmulGeometry}) and
 * passes each operand's array, offset and row stride, so views (column slices, batches) need no copy. Creating
 * it starts the kernel's one-time warm-up in the background ({@link Sgemm#warmUpInBackground()}).
 */
final class CpuMatmul {
    private final HeapMemory memory;
    private final Parallel parallel;

    CpuMatmul(HeapMemory memory, Parallel parallel) {
        this.memory = memory;
        this.parallel = parallel;
        Sgemm.warmUpInBackground();
    }

    void matmul(Tensor a, boolean transA, Tensor b, boolean transB, Tensor c, float alpha, float beta) {
        MatmulGeometry g = MatmulGeometry.of("matmul", a, transA, b, transB, c);
        float[] ad = memory.array("matmul", a), bd = memory.array("matmul", b), cd = memory.array("matmul", c);
        Sgemm.gemmBatched(parallel, g.batch(), transA, transB, g.m(), g.n(), g.k(), alpha,
                ad, a.offset(), a.stride(-2), g.aBatched() ? a.stride(0) : 0,
                bd, b.offset(), b.stride(-2), g.bBatched() ? b.stride(0) : 0, beta,
                cd, c.offset(), c.stride(-2), c.rank() == 3 ? c.stride(0) : 0);
    }
}
