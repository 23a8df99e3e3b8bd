package dev.polaformer.numerics.cpu;

import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import static dev.polaformer.numerics.cpu.SgemmMicroKernel.NR;

/**
 * The right operand {@code op(B)} ({@code k × n}) of {@link Sgemm} packed once, for a weight that many calls
 * multiply by: micro-panel {@code q} (columns {@code [q·NR, q·NR + NR)}, zeros past {@code n}) holds, for each
 * {@code p < k}, the {@code NR} values of row {@code p}, at {@code panels[q·k·NR + p·NR ..]}. That is exactly
 * what {@link Sgemm} packs per call when all of {@code B} fits one super-block, so its loops read either alike.
 *
 * <p><b>bf16.</b> With {@code -Dpolaformer.cpu.bf16Weights=true}, constant weights are kept as bfloat16 (the upper
 * half of each float, rounded to nearest even) in the same layout ({@link #inBf16}): half the bytes to stream at
 * batch 1, where the products of the last stage and the head read their weights once per call. {@link Sgemm}
 * widens each slice of a micro-panel into floats just before the micro-kernel uses it, so the arithmetic is the
 * fp32 kernel's; only the weights are rounded (8 bits of mantissa). Off by default: the results then differ from
 * fp32 in the third or fourth digit, beyond the golden tolerances.
 *
 * @param panels {@code ceil(n / NR) · k · NR} floats, or null when the panels are kept in {@code bf16}
 * @param bf16   the same values as bfloat16 bit patterns, or null
 */
record PackedRight(int k, int n, float[] panels, short[] bf16) {
    public static final String BF16_PROPERTY = "polaformer.cpu.bf16Weights";

    /** Whether constant weights are to be kept in bfloat16 ({@value #BF16_PROPERTY}). */
    static boolean bf16Wanted() {
        return Boolean.getBoolean(BF16_PROPERTY);
    }

    /** These panels in bfloat16, each value rounded to the nearest (ties to even). */
    PackedRight inBf16() {
        if (bf16 != null) return this;
        short[] out = new short[panels.length];
        for (int i = 0; i < out.length; i++) out[i] = toBf16(panels[i]);
        return new PackedRight(k, n, null, out);
    }

    static short toBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) return (short) ((bits >>> 16) | 0x40);  // stays a (quiet) NaN
        return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
    }

    /** {@code dst[dOff + i] = the float of bf16[src + i]} for {@code i < count} (a multiple of the vector length). */
    static void widen(short[] bf16, int src, float[] dst, int dOff, int count) {
        for (int i = 0; i < count; i += Simd.L) {
            // sign-extending to int is harmless: the shift moves the 16 bits to the top and drops the rest
            ((IntVector) ShortVector.fromArray(SHORTS, bf16, src + i).convertShape(VectorOperators.S2I, INTS, 0))
                    .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(dst, dOff + i);
        }
    }

    /** Ints as wide as the float vectors, and shorts of the same lane count (half the bits). */
    private static final VectorSpecies<Integer> INTS = Simd.F.vectorShape().withLanes(int.class);
    private static final VectorSpecies<Short> SHORTS =
            VectorSpecies.of(short.class, VectorShape.forBitSize(Simd.F.vectorBitSize() / 2));

    /**
     * Packs {@code op(B)}: {@code B} stored {@code (n, k)} and used transposed when {@code transB}, else stored
     * {@code (k, n)}; {@code ldb} its row stride.
     */
    static PackedRight pack(boolean transB, int k, int n, float[] b, int bOff, int ldb) {
        int panels = (n + NR - 1) / NR;
        float[] out = new float[Math.max(1, panels * k * NR)];
        for (int q = 0; q < panels; q++) SgemmPacking.packB(transB, b, bOff, ldb, n, q * NR, 0, k, out, q * k * NR);
        return new PackedRight(k, n, out, null);
    }
}
