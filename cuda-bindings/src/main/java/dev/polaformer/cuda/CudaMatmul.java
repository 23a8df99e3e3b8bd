package dev.polaformer.cuda;

import dev.polaformer.cuda.bindings.cublas.Cublas;
import dev.polaformer.numerics.MatmulGeometry;
import dev.polaformer.numerics.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static dev.polaformer.cuda.CudaException.checkCublas;

/**
 * {@code matmul} with cuBLAS, which is column-major: a row-major matrix with row stride {@code ld} is, to cuBLAS,
 * its transpose with leading dimension {@code ld}. So {@code C = op(A)·op(B)} in row-major is computed as
 * {@code Cᵀ = op(B)ᵀ·op(A)ᵀ} in column-major: the operands swap places and keep their transpose flags, and the row
 * strides become the leading dimensions (column slices need no copy). Batches use the strided-batched GEMM, with
 * stride 0 for a matrix shared by every batch entry.
 *
 * <p>Precision: plain fp32 ({@code CUBLAS_DEFAULT_MATH}) unless {@code -Dpolaformer.cuda.tf32=true}. bf16 mixed
 * precision ({@code -Dpolaformer.cuda.bf16}) is not implemented yet: it needs bf16 copies of the operands
 * (a conversion kernel) and {@code cublasGemmEx}; the flag is reported by {@code describe()} and ignored.
 */
final class CudaMatmul {
    private final CudaContext context;
    private final MemorySegment handle;

    CudaMatmul(CudaContext context, boolean tf32) {
        this.context = context;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            checkCublas(Cublas.cublasCreate_v2(out), "cublasCreate");
            handle = out.get(ValueLayout.ADDRESS, 0);
        }
        checkCublas(Cublas.cublasSetStream_v2(handle, context.stream), "cublasSetStream");
        checkCublas(Cublas.cublasSetMathMode(handle, tf32 ? Cublas.CUBLAS_TF32_TENSOR_OP_MATH() : Cublas.CUBLAS_DEFAULT_MATH()),
                "cublasSetMathMode");
    }

    /** cuBLAS version as {@code major.minor.patch}. */
    String version() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocate(ValueLayout.JAVA_INT);
            if (Cublas.cublasGetVersion_v2(handle, v) != 0) return "?";
            int n = v.get(ValueLayout.JAVA_INT, 0);
            return n / 10000 + "." + n / 100 % 100 + "." + n % 100;
        }
    }

    void matmul(Tensor a, boolean transA, Tensor b, boolean transB, Tensor c, float alpha, float beta) {
        String op = "matmul";
        MatmulGeometry g = MatmulGeometry.of(op, a, transA, b, transB, c);
        CudaStorage sa = CudaBackend.storageOf(op, a), sb = CudaBackend.storageOf(op, b), sc = CudaBackend.storageOf(op, c);
        if (g.m() == 0 || g.n() == 0 || g.batch() == 0) return;
        context.bind();
        // Leading dimensions: the row strides, at least the row length (a single row may carry any stride).
        int lda = Math.max(Math.max(1, a.dim(-1)), a.dim(-2) == 1 ? 0 : a.stride(-2));
        int ldb = Math.max(Math.max(1, b.dim(-1)), b.dim(-2) == 1 ? 0 : b.stride(-2));
        int ldc = Math.max(Math.max(1, c.dim(-1)), c.dim(-2) == 1 ? 0 : c.stride(-2));
        int opA = transA ? Cublas.CUBLAS_OP_T() : Cublas.CUBLAS_OP_N();
        int opB = transB ? Cublas.CUBLAS_OP_T() : Cublas.CUBLAS_OP_N();
        synchronized (this) { // one handle; cuBLAS handles are not for concurrent use
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment al = arena.allocateFrom(ValueLayout.JAVA_FLOAT, alpha);
                MemorySegment be = arena.allocateFrom(ValueLayout.JAVA_FLOAT, beta);
                MemorySegment pa = sa.pointer(a.offset()), pb = sb.pointer(b.offset()), pc = sc.pointer(c.offset());
                if (g.batch() == 1) {
                    checkCublas(Cublas.cublasSgemm_v2(handle, opB, opA, g.n(), g.m(), g.k(), al, pb, ldb, pa, lda, be,
                            pc, ldc), call("cublasSgemm", g));
                } else {
                    long strideA = g.aBatched() ? a.stride(0) : 0, strideB = g.bBatched() ? b.stride(0) : 0;
                    checkCublas(Cublas.cublasSgemmStridedBatched(handle, opB, opA, g.n(), g.m(), g.k(), al, pb, ldb,
                            strideB, pa, lda, strideA, be, pc, ldc, c.stride(0), g.batch()), call("cublasSgemmStridedBatched", g));
                }
            }
        }
    }

    private static String call(String name, MatmulGeometry g) {
        return name + "(batch " + g.batch() + ", m " + g.m() + ", n " + g.n() + ", k " + g.k() + ")";
    }
}
