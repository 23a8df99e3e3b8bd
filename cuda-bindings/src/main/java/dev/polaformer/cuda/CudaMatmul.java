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

    /**
     * The column-major GEMM that computes a row-major {@code matmul}: cuBLAS's {@code A} is our {@code b} and its
     * {@code B} our {@code a}, sizes {@code (n, m, k)}; offsets and strides in elements. Pure arithmetic, so a
     * CPU test checks it with a column-major GEMM written out in Java.
     */
    record Plan(boolean transFirst, boolean transSecond, int m, int n, int k, int batch,
                int firstOffset, int ldFirst, long strideFirst,
                int secondOffset, int ldSecond, long strideSecond,
                int cOffset, int ldc, long strideC) {

        static Plan of(MatmulGeometry g, Tensor a, boolean transA, Tensor b, boolean transB, Tensor c) {
            return new Plan(transB, transA, g.n(), g.m(), g.k(), g.batch(),
                    b.offset(), leadingDimension(b), g.bBatched() ? b.stride(0) : 0,
                    a.offset(), leadingDimension(a), g.aBatched() ? a.stride(0) : 0,
                    c.offset(), leadingDimension(c), c.rank() == 3 ? c.stride(0) : 0);
        }

        /** The row stride, at least the row length (cuBLAS checks that; a single row may carry any stride). */
        private static int leadingDimension(Tensor t) {
            return Math.max(Math.max(1, t.dim(-1)), t.dim(-2) == 1 ? 0 : t.stride(-2));
        }
    }

    void matmul(Tensor a, boolean transA, Tensor b, boolean transB, Tensor c, float alpha, float beta) {
        String op = "matmul";
        MatmulGeometry g = MatmulGeometry.of(op, a, transA, b, transB, c);
        CudaStorage sa = CudaBackend.storageOf(op, a), sb = CudaBackend.storageOf(op, b), sc = CudaBackend.storageOf(op, c);
        if (g.m() == 0 || g.n() == 0 || g.batch() == 0) return;
        Plan p = Plan.of(g, a, transA, b, transB, c);
        context.bind();
        int opFirst = p.transFirst() ? Cublas.CUBLAS_OP_T() : Cublas.CUBLAS_OP_N();
        int opSecond = p.transSecond() ? Cublas.CUBLAS_OP_T() : Cublas.CUBLAS_OP_N();
        synchronized (this) { // one handle; cuBLAS handles are not for concurrent use
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment al = arena.allocateFrom(ValueLayout.JAVA_FLOAT, alpha);
                MemorySegment be = arena.allocateFrom(ValueLayout.JAVA_FLOAT, beta);
                MemorySegment first = sb.pointer(p.firstOffset()), second = sa.pointer(p.secondOffset());
                MemorySegment out = sc.pointer(p.cOffset());
                if (p.batch() == 1) {
                    checkCublas(Cublas.cublasSgemm_v2(handle, opFirst, opSecond, p.m(), p.n(), p.k(), al, first,
                            p.ldFirst(), second, p.ldSecond(), be, out, p.ldc()), call("cublasSgemm", g));
                } else {
                    checkCublas(Cublas.cublasSgemmStridedBatched(handle, opFirst, opSecond, p.m(), p.n(), p.k(), al,
                            first, p.ldFirst(), p.strideFirst(), second, p.ldSecond(), p.strideSecond(), be, out,
                            p.ldc(), p.strideC(), p.batch()), call("cublasSgemmStridedBatched", g));
                }
            }
        }
    }

    private static String call(String name, MatmulGeometry g) {
        return name + "(batch " + g.batch() + ", m " + g.m() + ", n " + g.n() + ", k " + g.k() + ")";
    }
}
