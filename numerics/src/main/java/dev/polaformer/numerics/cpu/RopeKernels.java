package dev.polaformer.numerics.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorShuffle;

import static dev.polaformer.numerics.cpu.Simd.F;
import static dev.polaformer.numerics.cpu.Simd.L;

/**
 * Rotary embedding on adjacent channel pairs, vectorised without de-interleaving.
 *
 * <p>Forward, per pair: {@code y0 = x0·c0 − x1·s0}, {@code y1 = x1·c1 + x0·s1}. With {@code x̃} the vector with
 * each pair swapped ({@code (x1, x0)}), that is {@code y = x·cos + x̃·t} for {@code t = (−s0, s1, ...)}. The
 * transpose (backward) is {@code y0 = x0·c0 + x1·s1}, {@code y1 = x1·c1 − x0·s0}: the same form with
 * {@code t = (s1, −s0, ...)}. {@link #signedSin} builds {@code t} once per call for the whole table, so the
 * kernel costs one shuffle and two FMAs per vector. Pairs never straddle a vector: runs start at even offsets
 * and every vector width is even.
 */
final class RopeKernels {
    private RopeKernels() {}

    private static final VectorShuffle<Float> SWAP_PAIRS = VectorShuffle.fromOp(F, i -> i ^ 1);

    /** {@code t[i]} for the table {@code sin} of {@code n} values (n even), forward or transposed. */
    static void signedSin(float[] sin, int so, float[] t, int n, boolean inverse) {
        for (int i = 0; i < n; i += 2) {
            float s0 = sin[so + i], s1 = sin[so + i + 1];
            if (inverse) {
                t[i] = s1;
                t[i + 1] = -s0;
            } else {
                t[i] = -s0;
                t[i + 1] = s1;
            }
        }
    }

    /** Rotates the {@code d} values at {@code x[xo..]} into {@code y[yo..]} with table rows {@code cos[co..]}, {@code t[to..]}. */
    static void rotate(float[] x, int xo, float[] cos, int co, float[] t, int to, float[] y, int yo, int d) {
        for (int j = 0; j < d; j += L) {
            VectorMask<Float> m = F.indexInRange(j, d);
            FloatVector v = FloatVector.fromArray(F, x, xo + j, m);
            FloatVector swapped = v.rearrange(SWAP_PAIRS);
            FloatVector r = swapped.fma(FloatVector.fromArray(F, t, to + j, m),
                    v.mul(FloatVector.fromArray(F, cos, co + j, m)));
            r.intoArray(y, yo + j, m);
        }
    }
}
