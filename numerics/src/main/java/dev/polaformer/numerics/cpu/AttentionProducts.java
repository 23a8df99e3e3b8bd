package dev.polaformer.numerics.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The two small matrix products the attention kernels are made of, on row-major float matrices that live in
 * the kernels' padded scratch: {@link #ab C = A·B} and {@link #atb C = Aᵀ·B}.
 *
 * <p>Why not {@link Sgemm}: these products are tiny (a 64-token block times a 2d × d/2 state, or one head's
 * 196 × 196 scores) and are interleaved with element-wise work on the same rows while they sit in L1. A
 * general GEMM would pack its operands on every call, which costs as much as the product at these sizes.
 *
 * <p>The shape of both kernels: a register tile of 4 output rows × 2 vectors (8 accumulators, enough to hide
 * the FMA latency on one core), the reduction index innermost, one operand broadcast from memory and the
 * other loaded as vectors. To keep the loops free of masks the callers guarantee that the number of output
 * columns is a multiple of {@link Simd#L} and that every row of the vector operand has that many readable
 * floats (padding columns must be finite: zeros, normally). {@link #atb} also needs its output rows to be a
 * multiple of 4 (the row-wise operand is read that far); {@link #ab} takes any number of rows.
 * The reduction length is free. Both kernels overwrite C; callers add block results into their own
 * (double) accumulators.
 */
final class AttentionProducts {
    private AttentionProducts() {}

    private static final VectorSpecies<Float> F = Simd.F;
    private static final int L = Simd.L;

    /** Output rows per register tile. */
    static final int ROWS = 4;

    /** {@code n} rounded up to a multiple of the vector length. */
    static int padToVector(int n) {
        return (n + L - 1) / L * L;
    }

    /** {@code n} rounded up to a multiple of {@link #ROWS}. */
    static int padToTile(int n) {
        return (n + ROWS - 1) / ROWS * ROWS;
    }

    /**
     * {@code C[r][j] = Σ_{p<k} A[r][p]·B[p][j]} for {@code r < rows}, {@code j < cols}.
     * A is broadcast element by element; B and C are walked as vectors.
     */
    static void ab(int rows, int k, int cols, float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                   float[] c, int cOff, int ldc) {
        int tiled = rows / ROWS * ROWS;
        abTiles(tiled, k, cols, a, aOff, lda, b, bOff, ldb, c, cOff, ldc);
        for (int r = tiled; r < rows; r++) abRow(k, cols, a, aOff + r * lda, b, bOff, ldb, c, cOff + r * ldc);
    }

    /** One row of {@link #ab}: {@code c[co + j] = Σ_p a[ao + p]·B[p][j]}. */
    private static void abRow(int k, int cols, float[] a, int ao, float[] b, int bOff, int ldb, float[] c, int co) {
        for (int j = 0; j < cols; j += L) {
            FloatVector x = FloatVector.zero(F);
            for (int p = 0, bo = bOff + j; p < k; p++, bo += ldb) {
                x = FloatVector.broadcast(F, a[ao + p]).fma(FloatVector.fromArray(F, b, bo), x);
            }
            x.intoArray(c, co + j);
        }
    }

    private static void abTiles(int rows, int k, int cols, float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                                float[] c, int cOff, int ldc) {
        for (int r = 0; r < rows; r += ROWS) {
            int a0 = aOff + r * lda, a1 = a0 + lda, a2 = a1 + lda, a3 = a2 + lda;
            int c0 = cOff + r * ldc, c1 = c0 + ldc, c2 = c1 + ldc, c3 = c2 + ldc;
            int j = 0;
            for (; j + 2 * L <= cols; j += 2 * L) {
                FloatVector x00 = FloatVector.zero(F), x01 = FloatVector.zero(F);
                FloatVector x10 = FloatVector.zero(F), x11 = FloatVector.zero(F);
                FloatVector x20 = FloatVector.zero(F), x21 = FloatVector.zero(F);
                FloatVector x30 = FloatVector.zero(F), x31 = FloatVector.zero(F);
                for (int p = 0, bo = bOff + j; p < k; p++, bo += ldb) {
                    FloatVector b0 = FloatVector.fromArray(F, b, bo);
                    FloatVector b1 = FloatVector.fromArray(F, b, bo + L);
                    FloatVector s = FloatVector.broadcast(F, a[a0 + p]);
                    x00 = s.fma(b0, x00);
                    x01 = s.fma(b1, x01);
                    s = FloatVector.broadcast(F, a[a1 + p]);
                    x10 = s.fma(b0, x10);
                    x11 = s.fma(b1, x11);
                    s = FloatVector.broadcast(F, a[a2 + p]);
                    x20 = s.fma(b0, x20);
                    x21 = s.fma(b1, x21);
                    s = FloatVector.broadcast(F, a[a3 + p]);
                    x30 = s.fma(b0, x30);
                    x31 = s.fma(b1, x31);
                }
                x00.intoArray(c, c0 + j);
                x01.intoArray(c, c0 + j + L);
                x10.intoArray(c, c1 + j);
                x11.intoArray(c, c1 + j + L);
                x20.intoArray(c, c2 + j);
                x21.intoArray(c, c2 + j + L);
                x30.intoArray(c, c3 + j);
                x31.intoArray(c, c3 + j + L);
            }
            if (j < cols) {
                // One vector column left: the same tile, one vector wide.
                FloatVector x0 = FloatVector.zero(F), x1 = FloatVector.zero(F);
                FloatVector x2 = FloatVector.zero(F), x3 = FloatVector.zero(F);
                for (int p = 0, bo = bOff + j; p < k; p++, bo += ldb) {
                    FloatVector b0 = FloatVector.fromArray(F, b, bo);
                    x0 = FloatVector.broadcast(F, a[a0 + p]).fma(b0, x0);
                    x1 = FloatVector.broadcast(F, a[a1 + p]).fma(b0, x1);
                    x2 = FloatVector.broadcast(F, a[a2 + p]).fma(b0, x2);
                    x3 = FloatVector.broadcast(F, a[a3 + p]).fma(b0, x3);
                }
                x0.intoArray(c, c0 + j);
                x1.intoArray(c, c1 + j);
                x2.intoArray(c, c2 + j);
                x3.intoArray(c, c3 + j);
            }
        }
    }

    /**
     * {@code C[i][j] = Σ_{t<n} A[t][i]·B[t][j]} for {@code i < rows}, {@code j < cols}: the product of the
     * transpose of A (stored {@code n × rows}) with B (stored {@code n × cols}). A is broadcast four
     * neighbouring elements at a time; B and C are walked as vectors.
     */
    static void atb(int n, int rows, int cols, float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                    float[] c, int cOff, int ldc) {
        for (int i = 0; i < rows; i += ROWS) {
            int c0 = cOff + i * ldc, c1 = c0 + ldc, c2 = c1 + ldc, c3 = c2 + ldc;
            int j = 0;
            for (; j + 2 * L <= cols; j += 2 * L) {
                FloatVector x00 = FloatVector.zero(F), x01 = FloatVector.zero(F);
                FloatVector x10 = FloatVector.zero(F), x11 = FloatVector.zero(F);
                FloatVector x20 = FloatVector.zero(F), x21 = FloatVector.zero(F);
                FloatVector x30 = FloatVector.zero(F), x31 = FloatVector.zero(F);
                for (int t = 0, ao = aOff + i, bo = bOff + j; t < n; t++, ao += lda, bo += ldb) {
                    FloatVector b0 = FloatVector.fromArray(F, b, bo);
                    FloatVector b1 = FloatVector.fromArray(F, b, bo + L);
                    FloatVector s = FloatVector.broadcast(F, a[ao]);
                    x00 = s.fma(b0, x00);
                    x01 = s.fma(b1, x01);
                    s = FloatVector.broadcast(F, a[ao + 1]);
                    x10 = s.fma(b0, x10);
                    x11 = s.fma(b1, x11);
                    s = FloatVector.broadcast(F, a[ao + 2]);
                    x20 = s.fma(b0, x20);
                    x21 = s.fma(b1, x21);
                    s = FloatVector.broadcast(F, a[ao + 3]);
                    x30 = s.fma(b0, x30);
                    x31 = s.fma(b1, x31);
                }
                x00.intoArray(c, c0 + j);
                x01.intoArray(c, c0 + j + L);
                x10.intoArray(c, c1 + j);
                x11.intoArray(c, c1 + j + L);
                x20.intoArray(c, c2 + j);
                x21.intoArray(c, c2 + j + L);
                x30.intoArray(c, c3 + j);
                x31.intoArray(c, c3 + j + L);
            }
            if (j < cols) {
                FloatVector x0 = FloatVector.zero(F), x1 = FloatVector.zero(F);
                FloatVector x2 = FloatVector.zero(F), x3 = FloatVector.zero(F);
                for (int t = 0, ao = aOff + i, bo = bOff + j; t < n; t++, ao += lda, bo += ldb) {
                    FloatVector b0 = FloatVector.fromArray(F, b, bo);
                    x0 = FloatVector.broadcast(F, a[ao]).fma(b0, x0);
                    x1 = FloatVector.broadcast(F, a[ao + 1]).fma(b0, x1);
                    x2 = FloatVector.broadcast(F, a[ao + 2]).fma(b0, x2);
                    x3 = FloatVector.broadcast(F, a[ao + 3]).fma(b0, x3);
                }
                x0.intoArray(c, c0 + j);
                x1.intoArray(c, c1 + j);
                x2.intoArray(c, c2 + j);
                x3.intoArray(c, c3 + j);
            }
        }
    }
}
