package dev.polaformer.numerics.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;

import static dev.polaformer.numerics.cpu.Simd.F;
import static dev.polaformer.numerics.cpu.Simd.L;

/**
 * SiLU (Swish) {@code x·σ(x)} and its derivative {@code σ(x)(1 + x(1 − σ(x)))}, vectorised.
 *
 * <p>With {@code e = exp(−|x|)} (never overflows), {@code σ(x) = 1/(1+e)} for x ≥ 0 and {@code e/(1+e)} for
 * x &lt; 0, and {@code 1 − σ(x)} is the other one of the two: both are then accurate to a few ulp relative,
 * including σ's tiny values for very negative x, where {@code 1/(1 + exp(−x))} would overflow to 0 early and
 * {@code 1 − σ} would cancel.
 */
final class SiluKernels {
    private SiluKernels() {}

    /** {@code y = x·σ(x)}; y may be x. */
    static void silu(float[] x, int xo, float[] unused, int unusedOffset, float[] y, int yo, int n) {
        FloatVector one = FloatVector.broadcast(F, 1f);
        for (int i = 0; i < n; i += L) {
            VectorMask<Float> m = F.indexInRange(i, n);
            FloatVector v = FloatVector.fromArray(F, x, xo + i, m);
            FloatVector e = VectorMath.exp(v.abs().neg());
            FloatVector inv = one.div(e.add(1f));
            FloatVector sigma = e.mul(inv).blend(inv, v.compare(VectorOperators.GE, 0f));
            v.mul(sigma).intoArray(y, yo + i, m);
        }
    }

    /** {@code dx = dy·σ(x)(1 + x(1 − σ(x)))}; dx may alias x or dy. */
    static void siluBackward(float[] x, int xo, float[] dy, int dyo, float[] dx, int dxo, int n) {
        FloatVector one = FloatVector.broadcast(F, 1f);
        for (int i = 0; i < n; i += L) {
            VectorMask<Float> m = F.indexInRange(i, n);
            FloatVector v = FloatVector.fromArray(F, x, xo + i, m);
            FloatVector g = FloatVector.fromArray(F, dy, dyo + i, m);
            FloatVector e = VectorMath.exp(v.abs().neg());
            FloatVector inv = one.div(e.add(1f));
            FloatVector small = e.mul(inv);
            VectorMask<Float> positive = v.compare(VectorOperators.GE, 0f);
            FloatVector sigma = small.blend(inv, positive);
            FloatVector complement = inv.blend(small, positive);
            FloatVector grad = sigma.mul(v.mul(complement).add(1f));
            g.mul(grad).intoArray(dx, dxo + i, m);
        }
    }
}
