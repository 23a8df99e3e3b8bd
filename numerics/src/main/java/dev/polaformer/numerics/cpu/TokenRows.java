package dev.polaformer.numerics.cpu;

import dev.polaformer.numerics.HeapMemory;
import dev.polaformer.numerics.Tensor;

/**
 * Where the rows of a {@code (B, N, C)} tensor with unit-stride rows live: element {@code (p, t, ch)} is
 * {@code array[at(p, t) + ch]}. The outer strides are free, so a column slice of a wider matrix (q, k, v out
 * of the fused {@code (B, N, 4C)} projection) is addressed in place.
 */
record TokenRows(float[] array, int offset, int batchStride, int tokenStride) {

    static TokenRows of(HeapMemory memory, String op, Tensor t) {
        return new TokenRows(memory.array(op, t), t.offset(), t.stride(0), t.stride(1));
    }

    /** Index of element {@code (p, t, 0)}. */
    int at(int p, int t) {
        return offset + p * batchStride + t * tokenStride;
    }
}
