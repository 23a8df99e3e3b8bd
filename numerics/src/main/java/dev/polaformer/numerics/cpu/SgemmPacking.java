package dev.polaformer.numerics.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import static dev.polaformer.numerics.cpu.SgemmMicroKernel.MR;
import static dev.polaformer.numerics.cpu.SgemmMicroKernel.NR;

/**
 * Copies blocks of {@code op(A)} and {@code op(B)} into the order {@link SgemmMicroKernel} reads them: an
 * {@code A} micro-panel holds, for each {@code k}, the {@code MR} values of {@code MR} consecutive rows; a
 * {@code B} micro-panel holds, for each {@code k}, the {@code NR} values of {@code NR} consecutive columns.
 * Rows or columns past the matrix edge are written as zeros (the write-back drops those rows and columns of
 * the tile anyway; zeros keep stale NaNs or denormals out of the arithmetic).
 *
 * <p>Depending on its transpose flag, an operand is either a straight copy (contiguous runs of {@code MR} or
 * {@code NR} floats, done with whole vectors; about 0.1 ns per float) or a transpose (one source row becomes one
 * strided column of the panel, done with scalars; about 0.3–0.45 ns per float). Each packed {@code A} value feeds
 * {@code 2·n} flops and each {@code B} value {@code 2·m}: in the model's forward products ({@code A} stored row
 * by row, so transposed when packed; {@code n = 256}) that packing takes about a tenth of the time, for
 * attention-sized matrices (both operands transposed, {@code n = 196}) an estimated third. A vectorised transpose would be the next gain here. Masked vector copies are avoided on purpose: in this
 * loop they compiled to much slower code (the transposed-A copy ran at half speed with them).
 */
final class SgemmPacking {
    private SgemmPacking() {}

    private static final VectorSpecies<Float> F = Simd.F;
    private static final int L = Simd.L;
    /** Vectors that cover {@code MR} floats. */
    private static final int MR_VECTORS = (MR + L - 1) / L;
    /** Floats a packed {@code A} buffer needs past its last panel, for the spill of the vector copy. */
    static final int SLACK = MR_VECTORS * L - MR;

    /**
     * Packs rows {@code [i0, i0 + rows)} and columns {@code [p0, p0 + kc)} of {@code op(A)} ({@code m} rows in
     * all) into {@code ceil(rows / MR)} micro-panels at {@code dst[0..]}, each {@code MR·kc} floats.
     */
    static void packA(boolean transA, float[] a, int aOff, int lda, int m, int i0, int rows, int p0, int kc,
                      float[] dst) {
        for (int ir = 0; ir < rows; ir += MR) {
            int valid = Math.min(MR, m - i0 - ir);
            int d = ir * kc;
            if (transA) {
                // A is stored (k, m): the MR values for one k are contiguous.
                int src = aOff + p0 * lda + i0 + ir;
                if (valid == MR && src + (kc - 1) * lda + MR_VECTORS * L <= a.length) {
                    // Whole vectors; the last one spills past MR into the next slot, which is written next
                    // (the buffer has SLACK floats past the last panel for the final spill).
                    for (int p = 0; p < kc; p++, src += lda, d += MR) {
                        for (int j = 0; j < MR; j += L) FloatVector.fromArray(F, a, src + j).intoArray(dst, d + j);
                    }
                } else {
                    for (int p = 0; p < kc; p++, src += lda, d += MR) copyEdge(a, src, valid, dst, d, MR);
                }
            } else {
                // A is stored (m, k): each row of the panel is a contiguous run over k, written with stride MR.
                for (int r = 0; r < valid; r++) {
                    int src = aOff + (i0 + ir + r) * lda + p0;
                    for (int p = 0; p < kc; p++) dst[d + p * MR + r] = a[src + p];
                }
                for (int r = valid; r < MR; r++) {
                    for (int p = 0; p < kc; p++) dst[d + p * MR + r] = 0f;
                }
            }
        }
    }

    /**
     * Packs columns {@code [j0, j0 + NR)} (those at or past {@code n} as zeros) and rows {@code [p0, p0 + kc)} of
     * {@code op(B)} into one micro-panel of {@code NR·kc} floats at {@code dst[d..]}.
     */
    static void packB(boolean transB, float[] b, int bOff, int ldb, int n, int j0, int p0, int kc,
                      float[] dst, int d) {
        int valid = Math.min(NR, n - j0);
        if (!transB) {
            // B is stored (k, n): the NR values for one k are contiguous.
            int src = bOff + p0 * ldb + j0;
            if (valid == NR) {
                for (int p = 0; p < kc; p++, src += ldb, d += NR) {
                    for (int j = 0; j < NR; j += L) FloatVector.fromArray(F, b, src + j).intoArray(dst, d + j);
                }
            } else {
                for (int p = 0; p < kc; p++, src += ldb, d += NR) copyEdge(b, src, valid, dst, d, NR);
            }
        } else {
            // B is stored (n, k): each column of the panel is a contiguous run over k, written with stride NR.
            for (int c = 0; c < valid; c++) {
                int src = bOff + (j0 + c) * ldb + p0;
                for (int p = 0; p < kc; p++) dst[d + p * NR + c] = b[src + p];
            }
            for (int c = valid; c < NR; c++) {
                for (int p = 0; p < kc; p++) dst[d + p * NR + c] = 0f;
            }
        }
    }

    /** {@code dst[d, d + width) = src[s, s + valid)} followed by zeros; for the edges of the matrix. */
    private static void copyEdge(float[] src, int s, int valid, float[] dst, int d, int width) {
        for (int j = 0; j < valid; j++) dst[d + j] = src[s + j];
        for (int j = valid; j < width; j++) dst[d + j] = 0f;
    }
}
