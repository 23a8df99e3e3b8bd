package dev.polaformer.numerics.cpu;

import dev.polaformer.numerics.HeapMemory;
import dev.polaformer.numerics.HeapStorage;
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
        if (!g.bBatched() && b.storage() instanceof HeapStorage hs && hs.isConstant()
                && (g.batch() == 1 || !transA && a.isContiguous() && c.isContiguous())) {
            // A constant weight: multiply by its panels, packed on the first call. Batches of a and c that
            // follow each other row after row (contiguous) are one tall product.
            PackedRight packed = packed(hs, b, transB, g.k(), g.n());
            Sgemm.gemm(parallel, transA, g.batch() * g.m(), alpha, ad, a.offset(), a.stride(-2), packed, beta,
                    cd, c.offset(), c.stride(-2));
            return;
        }
        Sgemm.gemmBatched(parallel, g.batch(), transA, transB, g.m(), g.n(), g.k(), alpha,
                ad, a.offset(), a.stride(-2), g.aBatched() ? a.stride(0) : 0,
                bd, b.offset(), b.stride(-2), g.bBatched() ? b.stride(0) : 0, beta,
                cd, c.offset(), c.stride(-2), c.rank() == 3 ? c.stride(0) : 0);
    }

    /**
     * {@link dev.polaformer.numerics.Backend#linear} with a constant weight and a bias: the product with the bias
     * added per finished tile. Returns false, doing nothing, for any other case (the caller multiplies and adds).
     */
    boolean linearWithConstant(Tensor x, Tensor weight, Tensor bias, boolean gelu, Tensor y) {
        String op = "linear";
        MatmulGeometry g = MatmulGeometry.of(op, x, false, weight, true, y);
        if (bias != null) dev.polaformer.numerics.Shapes.requireShape(op, "bias", bias, g.n());
        if (bias == null || g.batch() != 1 || !(weight.storage() instanceof HeapStorage hs) || !hs.isConstant()
                || !bias.isContiguous()) {
            return false;
        }
        float[] xa = memory.array(op, x), ya = memory.array(op, y), ba = memory.array(op, bias);
        PackedRight packed = packed(hs, weight, true, g.k(), g.n());
        Sgemm.gemm(parallel, false, g.m(), 1f, xa, x.offset(), x.stride(-2), packed, ba, bias.offset(), gelu, 0f,
                ya, y.offset(), y.stride(-2));
        return true;
    }

    /** Keys of the two packings of a constant right operand. */
    private static final Object AS_B = "matmul b", AS_B_TRANSPOSED = "matmul bT";

    /** The panels of constant {@code op(b)} ({@code k × n}), packed on first use and kept with its storage. */
    static PackedRight packed(HeapStorage storage, Tensor b, boolean transB, int k, int n) {
        Object key = transB ? AS_B_TRANSPOSED : AS_B;
        Object d = storage.derived(key);
        if (d instanceof PackedRight p && p.k() == k && p.n() == n && b.offset() == 0) return p;
        PackedRight p = PackedRight.pack(transB, k, n, storage.array(), b.offset(), b.stride(-2));
        if (PackedRight.bf16Wanted()) p = p.inBf16();
        // only a weight that is its whole storage is kept (a view of one would share the key with another view)
        if (b.offset() == 0) storage.keepDerived(key, p);
        return p;
    }
}
