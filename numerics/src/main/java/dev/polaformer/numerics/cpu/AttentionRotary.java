package dev.polaformer.numerics.cpu;

import dev.polaformer.numerics.HeapMemory;
import dev.polaformer.numerics.RopeTables;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * The rotary embedding as the attention kernels apply it inside their token loops (spec §1.6): channel pairs
 * {@code (x[2i], x[2i+1])} are rotated by the angles of one table row,
 * <pre>
 *   y[2i]   = x[2i]·cos[2i]     − x[2i+1]·sin[2i]
 *   y[2i+1] = x[2i+1]·cos[2i+1] + x[2i]·sin[2i+1]
 * </pre>
 * Vectorised with {@code swap}, which exchanges the two lanes of each pair (one lane permute; pairs never
 * straddle vectors because rows and their parts start at even offsets), and the signed sine
 * {@code ŝ = (−1, +1, −1, ...)⊙sin}:
 * <pre>
 *   rotate:      y = x⊙cos + swap(x)⊙ŝ
 *   rotateBack:  x = y⊙cos + swap(y⊙ŝ)          (the transpose: rotation by the opposite angles)
 * </pre>
 * The kernels first copy the table rows they need into padded scratch ({@link Tables#copyRows}); the
 * vector code then runs over whole vectors. Kernels that rotate inside a fused loop write the two lines
 * above inline, with {@link #SWAP} and {@link #PAIR_SIGN}.
 */
final class AttentionRotary {
    private AttentionRotary() {}

    private static final VectorSpecies<Float> F = Simd.F;
    private static final int L = Simd.L;

    /** Exchanges the lanes of each pair: {@code (x0, x1, x2, x3, ...) → (x1, x0, x3, x2, ...)}. */
    static final VectorShuffle<Float> SWAP = VectorShuffle.fromOp(F, i -> i ^ 1);

    /** {@code −1} on even lanes, {@code +1} on odd lanes. */
    static final float[] PAIR_SIGN = pairSign();

    private static float[] pairSign() {
        float[] s = new float[L];
        for (int i = 0; i < L; i++) s[i] = i % 2 == 0 ? -1f : 1f;
        return s;
    }

    /** The arrays behind one stage's {@link RopeTables}; rows are {@code width} wide. */
    record Tables(float[] sin, int sinOffset, float[] cos, int cosOffset, int width) {
        static Tables of(HeapMemory memory, String op, RopeTables rope) {
            return new Tables(memory.array(op, rope.sin()), rope.sin().offset(), memory.array(op, rope.cos()),
                    rope.cos().offset(), rope.width());
        }

        /**
         * Copies the rows of tokens {@code [t0, t0+rows)} into scratch rows of stride {@code ld}, each table row
         * cut into {@code parts} equal parts placed {@code partStride} apart (so that each part starts on a
         * vector boundary). Padding between the parts is left as it is.
         */
        void copyRows(int t0, int rows, int parts, int partStride, float[] sinDst, float[] cosDst, int ld) {
            int part = width / parts;
            for (int r = 0; r < rows; r++) {
                int so = sinOffset + (t0 + r) * width, co = cosOffset + (t0 + r) * width;
                for (int k = 0; k < parts; k++) {
                    System.arraycopy(sin, so + k * part, sinDst, r * ld + k * partStride, part);
                    System.arraycopy(cos, co + k * part, cosDst, r * ld + k * partStride, part);
                }
            }
        }
    }

    /**
     * {@code y[yo..] = scale · rot(x[xo..])} over {@code width} values (a multiple of the vector length) with the
     * scratch table rows {@code sin/cos[to..]}. {@code y} may be {@code x}.
     */
    static void rotate(float[] x, int xo, float[] sin, float[] cos, int to, int width, float scale,
                       float[] y, int yo) {
        FloatVector sign = FloatVector.fromArray(F, PAIR_SIGN, 0);
        for (int i = 0; i < width; i += L) {
            FloatVector xv = FloatVector.fromArray(F, x, xo + i).mul(scale);
            FloatVector c = FloatVector.fromArray(F, cos, to + i), s = FloatVector.fromArray(F, sin, to + i);
            xv.rearrange(SWAP).fma(s.mul(sign), xv.mul(c)).intoArray(y, yo + i);
        }
    }

    /** {@code x[xo..] = scale · rotᵀ(y[yo..])}, the backward of {@link #rotate}. {@code x} may be {@code y}. */
    static void rotateBack(float[] y, int yo, float[] sin, float[] cos, int to, int width, float scale,
                           float[] x, int xo) {
        FloatVector sign = FloatVector.fromArray(F, PAIR_SIGN, 0);
        for (int i = 0; i < width; i += L) {
            FloatVector yv = FloatVector.fromArray(F, y, yo + i).mul(scale);
            FloatVector c = FloatVector.fromArray(F, cos, to + i), s = FloatVector.fromArray(F, sin, to + i);
            yv.fma(c, yv.mul(s.mul(sign)).rearrange(SWAP)).intoArray(x, xo + i);
        }
    }
}
