package dev.polaformer.numerics.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The one vector species every CPU kernel uses.
 *
 * <p>It must be a {@code static final} constant: C2 only turns Vector API calls into SIMD instructions when
 * the species is a compile-time constant, so the width is fixed when this class initialises (the first time
 * the {@code cpu} backend runs a kernel). {@code -Dpolaformer.vectorBits=128|256|512} overrides the
 * machine's preferred width. Zen 4 runs 512-bit instructions as two 256-bit halves, so there the two widths
 * are worth measuring against each other; on this project's Zen 5 machines 512-bit is 1.6–1.9× faster for
 * SGEMM ({@code bench/RESULTS.md}), so the preferred width stays the default.
 */
public final class Simd {
    private Simd() {}

    public static final String PROPERTY = "polaformer.vectorBits";

    public static final VectorSpecies<Float> F = choose();

    /** Lanes per vector. */
    public static final int L = F.length();

    private static VectorSpecies<Float> choose() {
        String v = System.getProperty(PROPERTY);
        if (v == null || v.isBlank()) return FloatVector.SPECIES_PREFERRED;
        int bits;
        try {
            bits = Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("-D" + PROPERTY + "=" + v + " is not a number; use 128, 256 or 512");
        }
        int max = VectorShape.preferredShape().vectorBitSize();
        if (bits != 128 && bits != 256 && bits != 512 || bits > max) {
            throw new IllegalArgumentException("-D" + PROPERTY + "=" + v + " is not supported here; use 128, 256 or 512,"
                    + " at most " + max + " on this CPU");
        }
        return VectorSpecies.of(float.class, VectorShape.forBitSize(bits));
    }

    /** Width and source, for log lines. */
    public static String describe() {
        String set = System.getProperty(PROPERTY);
        return "Vector API " + F.vectorBitSize() + "-bit" + (set == null ? "" : " (set by -D" + PROPERTY + ")");
    }
}
