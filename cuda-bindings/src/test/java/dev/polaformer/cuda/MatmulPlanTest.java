package dev.polaformer.cuda;

import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.Closeness;
import dev.polaformer.numerics.HeapStorage;
import dev.polaformer.numerics.MatmulGeometry;
import dev.polaformer.numerics.Tensor;
import dev.polaformer.numerics.TestData;
import dev.polaformer.numerics.reference.ReferenceBackend;
import org.junit.jupiter.api.Test;

/**
 * The cuBLAS call {@link CudaMatmul} makes, checked without a GPU: {@link CudaMatmul.Plan} run through a
 * column-major SGEMM written out here with cuBLAS's semantics (including {@code beta = 0} overwriting NaN) must
 * give the reference backend's {@code matmul}, for transposes, column slices (row stride ≠ width), batches with a
 * shared operand, and single rows.
 */
class MatmulPlanTest {
    private static final Backend REF = new ReferenceBackend();

    @Test
    void columnMajorCallReproducesRowMajorMatmul() {
        long seed = 1;
        int[][] sizes = {{3, 5, 4}, {1, 7, 3}, {6, 1, 2}, {4, 4, 1}, {17, 9, 33}};
        for (int[] s : sizes) {
            int m = s[0], n = s[1], k = s[2];
            for (boolean ta : new boolean[] {false, true})
                for (boolean tb : new boolean[] {false, true})
                    for (int batch : new int[] {1, 3})
                        for (int shared = 0; shared < 3; shared++) {
                            check(seed++, m, n, k, ta, tb, batch, shared == 1, shared == 2, false);
                            check(seed++, m, n, k, ta, tb, batch, shared == 1, shared == 2, true);
                        }
        }
    }

    /** {@code sliced}: every operand is a column slice (offset 1, row stride width + 3) of a wider matrix. */
    private static void check(long seed, int m, int n, int k, boolean ta, boolean tb, int batch, boolean aShared,
                              boolean bShared, boolean sliced) {
        int[] aShape = ta ? new int[] {k, m} : new int[] {m, k}, bShape = tb ? new int[] {n, k} : new int[] {k, n};
        Tensor a = operand(seed, batch, aShared, aShape, sliced), b = operand(seed + 1000, batch, bShared, bShape, sliced);
        Tensor c = operand(seed + 2000, batch, false, new int[] {m, n}, sliced);
        Tensor expected = operand(seed + 2000, batch, false, new int[] {m, n}, sliced);
        float alpha = 0.75f, beta = 0.5f;
        REF.matmul(a, ta, b, tb, expected, alpha, beta);
        MatmulGeometry g = MatmulGeometry.of("matmul", a, ta, b, tb, c);
        columnMajorSgemm(CudaMatmul.Plan.of(g, a, ta, b, tb, c), alpha, beta, array(b), array(a), array(c));
        String what = "m " + m + " n " + n + " k " + k + (ta ? " aᵀ" : "") + (tb ? " bᵀ" : "") + " batch " + batch
                + (aShared ? " a shared" : "") + (bShared ? " b shared" : "") + (sliced ? " sliced" : "");
        Closeness.assertClose(what, expected.toArray(), c.toArray(), 1e-6, 1e-5);
    }

    private static Tensor operand(long seed, int batch, boolean shared, int[] rc, boolean sliced) {
        int rows = rc[0], cols = rc[1], width = sliced ? cols + 3 : cols;
        int[] full = batch == 1 || shared ? new int[] {rows, width} : new int[] {batch, rows, width};
        int size = 1;
        for (int d : full) size *= d;
        Tensor t = REF.fromArray(TestData.normal(seed, size), full);
        return sliced ? t.narrow(-1, 1, cols) : t;
    }

    private static float[] array(Tensor t) {
        return ((HeapStorage) t.storage()).array();
    }

    /** cuBLAS {@code sgemm(Strided)Batched} semantics: column-major, {@code C = α·op(A)·op(B) + β·C}. */
    private static void columnMajorSgemm(CudaMatmul.Plan p, float alpha, float beta, float[] A, float[] B, float[] C) {
        for (int q = 0; q < p.batch(); q++) {
            int offA = (int) (p.firstOffset() + q * p.strideFirst()), offB = (int) (p.secondOffset() + q * p.strideSecond());
            int offC = (int) (p.cOffset() + q * p.strideC());
            for (int i = 0; i < p.m(); i++)
                for (int j = 0; j < p.n(); j++) {
                    double sum = 0;
                    for (int l = 0; l < p.k(); l++) {
                        float x = p.transFirst() ? A[offA + l + i * p.ldFirst()] : A[offA + i + l * p.ldFirst()];
                        float y = p.transSecond() ? B[offB + j + l * p.ldSecond()] : B[offB + l + j * p.ldSecond()];
                        sum += (double) x * y;
                    }
                    int at = offC + i + j * p.ldc();
                    C[at] = (float) (alpha * sum + (beta == 0 ? 0 : beta * C[at]));
                }
        }
    }
}
