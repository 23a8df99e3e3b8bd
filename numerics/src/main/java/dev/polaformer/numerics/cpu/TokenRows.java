package dev.polaformer.numerics.cpu;

import dev.polaformer.numerics.HeapMemory;
import dev.polaformer.numerics.Tensor;

/**
 * Where the rows of a {@code (B, N, C)} tensor with unit-stride rows live: element {@code (p, t, ch)} is
 * {@code array[at(p, t) + ch]}. The outer strides are free, so a column slice of a wider matrix (q, k, v out
 * of the fused {@code (B, N, 4C)} projection) is addressed in place.
 *
 * <p>The attention kernels move a block of rows at a time between a tensor and their padded scratch with
 * {@link #copyIn} and {@link #copyOut}: plain {@code System.arraycopy}, so the vector code that follows can use
 * whole, unmasked vectors (see {@link CpuLinearAttention} on why masks stay out of the hot methods).
 */
record TokenRows(float[] array, int offset, int batchStride, int tokenStride) {

    static TokenRows of(HeapMemory memory, String op, Tensor t) {
        return new TokenRows(memory.array(op, t), t.offset(), t.stride(0), t.stride(1));
    }

    /** Index of element {@code (p, t, 0)}. */
    int at(int p, int t) {
        return offset + p * batchStride + t * tokenStride;
    }

    /**
     * For tokens {@code [t0, t0+rows)} of batch {@code p}: the {@code width} values from column {@code col} go to
     * {@code dst[r·ld + dstCol ...]}, row {@code r} for token {@code t0 + r}.
     */
    void copyIn(int p, int t0, int rows, int col, int width, float[] dst, int dstCol, int ld) {
        for (int r = 0; r < rows; r++) System.arraycopy(array, at(p, t0 + r) + col, dst, r * ld + dstCol, width);
    }

    /** The reverse of {@link #copyIn}: scratch rows into the tensor. */
    void copyOut(int p, int t0, int rows, int col, int width, float[] src, int srcCol, int ld) {
        for (int r = 0; r < rows; r++) System.arraycopy(src, r * ld + srcCol, array, at(p, t0 + r) + col, width);
    }
}
