package dev.polaformer.numerics.cpu;

import dev.polaformer.numerics.HeapMemory;
import dev.polaformer.numerics.RopeTables;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * The rotary embedding of one row, as the attention kernels need it inside their token loops (spec §1.6):
 * channel pairs {@code (x[2i], x[2i+1])} are rotated by the angles of one table row,
 * <pre>
 *   y[2i]   = x[2i]·cos[2i]     − x[2i+1]·sin[2i]
 *   y[2i+1] = x[2i+1]·cos[2i+1] + x[2i]·sin[2i+1]
 * </pre>
 * Vectorised with {@code swap}, which exchanges the two lanes of each pair (one lane permute; pairs never
 * straddle vectors because rows start at even offsets and widths are even), and the signed sine
 * {@code ŝ = (−1, +1, −1, ...)⊙sin}:
 * <pre>
 *   rotate:      y = x⊙cos + swap(x)⊙ŝ
 *   rotateBack:  x = y⊙cos + swap(y⊙ŝ)          (the transpose: rotation by the opposite angles)
 * </pre>
 * The kernels that rotate inside a fused token loop write these two lines inline, with {@link #SWAP} and
 * {@link #PAIR_SIGN}.
 *
 * <p>Rows of any even width are handled with masked loads and stores, so lanes past the width are neither
 * read nor written.
 */
final class AttentionRotary {
    private AttentionRotary() {}

    /** The arrays behind one stage's {@link RopeTables}; rows are {@code width} wide. */
    record Tables(float[] sin, int sinOffset, float[] cos, int cosOffset, int width) {
        static Tables of(HeapMemory memory, String op, RopeTables rope) {
            return new Tables(memory.array(op, rope.sin()), rope.sin().offset(), memory.array(op, rope.cos()),
                    rope.cos().offset(), rope.width());
        }
    }

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

    /**
     * {@code y[yo..] = scale · rot(x[xo..])} over one table row, the one of {@code token}. {@code y} may be
     * {@code x}.
     */
    static void rotate(float[] x, int xo, Tables tables, int token, float scale, float[] y, int yo) {
        int width = tables.width, so = tables.sinOffset + token * width, co = tables.cosOffset + token * width;
        float[] sin = tables.sin, cos = tables.cos;
        FloatVector sign = FloatVector.fromArray(F, PAIR_SIGN, 0);
        for (int i = 0; i < width; i += L) {
            VectorMask<Float> m = F.indexInRange(i, width);
            FloatVector xv = FloatVector.fromArray(F, x, xo + i, m).mul(scale);
            FloatVector c = FloatVector.fromArray(F, cos, co + i, m);
            FloatVector s = FloatVector.fromArray(F, sin, so + i, m);
            xv.rearrange(SWAP).fma(s.mul(sign), xv.mul(c)).intoArray(y, yo + i, m);
        }
    }

    /** {@code x[xo..] = rotᵀ(y[yo..])}: the rotation by the opposite angles, i.e. the backward of {@link #rotate}. */
    static void rotateBack(float[] y, int yo, Tables tables, int token, float scale, float[] x, int xo) {
        int width = tables.width, so = tables.sinOffset + token * width, co = tables.cosOffset + token * width;
        float[] sin = tables.sin, cos = tables.cos;
        FloatVector sign = FloatVector.fromArray(F, PAIR_SIGN, 0);
        for (int i = 0; i < width; i += L) {
            VectorMask<Float> m = F.indexInRange(i, width);
            FloatVector yv = FloatVector.fromArray(F, y, yo + i, m).mul(scale);
            FloatVector c = FloatVector.fromArray(F, cos, co + i, m);
            FloatVector s = FloatVector.fromArray(F, sin, so + i, m);
            yv.fma(c, yv.mul(s.mul(sign)).rearrange(SWAP)).intoArray(x, xo + i, m);
        }
    }
}
