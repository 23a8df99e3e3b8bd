package dev.polaformer.numerics.cpu;

/**
 * Single-precision GEMM on arrays: {@code C = alpha·op(A)·op(B) + beta·C}, row-major with leading dimensions.
 * PLACEHOLDER: a plain loop so the other kernels can build on the API; the packed, vectorised kernel replaces it.
 */
public final class Sgemm {
    private Sgemm() {}

    /**
     * @param transA {@code A} is stored {@code (k, m)} and used transposed
     * @param lda    row stride of {@code A} as stored (≥ its column count)
     */
    public static void gemm(Parallel parallel, boolean transA, boolean transB, int m, int n, int k, float alpha,
                            float[] a, int aOff, int lda, float[] b, int bOff, int ldb, float beta,
                            float[] c, int cOff, int ldc) {
        parallel.forRange(m, 8, (i0, i1) -> {
            for (int i = i0; i < i1; i++) {
                for (int j = 0; j < n; j++) {
                    float s = 0;
                    for (int t = 0; t < k; t++) {
                        float av = transA ? a[aOff + t * lda + i] : a[aOff + i * lda + t];
                        float bv = transB ? b[bOff + j * ldb + t] : b[bOff + t * ldb + j];
                        s += av * bv;
                    }
                    int ci = cOff + i * ldc + j;
                    c[ci] = beta == 0 ? alpha * s : alpha * s + beta * c[ci];
                }
            }
        });
    }

    /**
     * {@code batch} independent products; {@code strideA}/{@code strideB}/{@code strideC} step between the
     * matrices of one operand (0 = one matrix shared by all).
     */
    public static void gemmBatched(Parallel parallel, int batch, boolean transA, boolean transB, int m, int n, int k,
                                   float alpha, float[] a, int aOff, int lda, int strideA,
                                   float[] b, int bOff, int ldb, int strideB, float beta,
                                   float[] c, int cOff, int ldc, int strideC) {
        for (int p = 0; p < batch; p++) {
            gemm(parallel, transA, transB, m, n, k, alpha, a, aOff + p * strideA, lda, b, bOff + p * strideB, ldb,
                    beta, c, cOff + p * strideC, ldc);
        }
    }
}
