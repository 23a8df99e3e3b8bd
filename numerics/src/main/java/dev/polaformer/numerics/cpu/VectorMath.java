package dev.polaformer.numerics.cpu;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Transcendental functions and horizontal sums for the CPU kernels, built only from IEEE add, multiply, FMA,
 * conversions and bit operations, so that they give the same bits in the interpreter, in C1 and in C2.
 *
 * <p>Why not {@code lanewise(EXP)} and {@code reduceLanes(ADD)}: the Vector API computes EXP with an
 * intrinsic (SVML) once C2 has compiled a method and with {@code Math.exp} per lane before that, and leaves the
 * order of a floating-point {@code reduceLanes(ADD)} unspecified; both differ in the last bits between a cold
 * and a warm JVM. A training run resumed in a new JVM would then drift from the uninterrupted one, and a
 * cold first call would disagree with later ones. These versions are as accurate (exp within 2 ulp of
 * {@code Math.exp}, measured in {@code VectorMathTest}) and deterministic.
 */
final class VectorMath {
    private VectorMath() {}

    private static final float LOG2E = 1.44269504088896341f;
    private static final float LN2_HI = 0.693145751953125f;      // 12 significant bits: n·LN2_HI is exact
    private static final float LN2_LO = 1.428606765330187e-06f;
    private static final float ROUND = 0x1.8p23f;                // adding and subtracting rounds to an integer
    private static final float MAX_IN = 89f, MIN_IN = -104f;     // beyond these exp is inf or 0 in float

    /** e^x for every lane. */
    static FloatVector exp(FloatVector x) {
        FloatVector xc = x.max(MIN_IN).min(MAX_IN);
        FloatVector n = xc.mul(LOG2E).add(ROUND).sub(ROUND);
        FloatVector r = n.fma(c(-LN2_HI), xc).add(n.mul(-LN2_LO));  // |r| ≤ ln2/2
        FloatVector p = taylorExp(r);
        // 2^n as two normal factors, so that results near overflow and in the subnormal range are exact too.
        IntVector ni = (IntVector) n.convert(VectorOperators.F2I, 0);
        IntVector n1 = ni.lanewise(VectorOperators.ASHR, 1), n2 = ni.sub(n1);
        FloatVector s1 = n1.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        FloatVector s2 = n2.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        FloatVector y = p.mul(s1).mul(s2);
        return y.blend(x, x.test(VectorOperators.IS_NAN));
    }

    /** e^x − 1, accurate near 0 (a series below |x| = 1/2) and equal to {@link #exp} − 1 elsewhere. */
    static FloatVector expm1(FloatVector x) {
        FloatVector big = exp(x).sub(1f);
        // x + x²/2! + ... + x⁹/9!, Horner form: relative error below 1e-8 for |x| ≤ 1/2
        FloatVector q = x.fma(1f / 362880, 1f / 40320).fma(x, c(1f / 5040)).fma(x, c(1f / 720)).fma(x, c(1f / 120))
                .fma(x, c(1f / 24)).fma(x, c(1f / 6)).fma(x, c(0.5f)).fma(x, c(1f)).mul(x);
        return big.blend(q, x.abs().compare(VectorOperators.LT, 0.5f));
    }

    /** 1 + r + ... + r⁷/7!: for |r| ≤ ln2/2 the truncation error is below 1e-9 relative. */
    private static FloatVector taylorExp(FloatVector r) {
        return r.fma(1f / 5040, 1f / 720).fma(r, c(1f / 120)).fma(r, c(1f / 24)).fma(r, c(1f / 6)).fma(r, c(0.5f))
                .fma(r, c(1f)).fma(r, c(1f));
    }

    private static FloatVector c(float v) {
        return FloatVector.broadcast(Simd.F, v);
    }

    /** The sum of the lanes, added in lane order (lane 0 first). */
    static float sum(FloatVector v) {
        float s = 0;
        for (int i = 0; i < Simd.L; i++) s += v.lane(i);
        return s;
    }

    /** The sum of the lanes, added in lane order. */
    static double sum(DoubleVector v) {
        double s = 0;
        for (int i = 0; i < v.length(); i++) s += v.lane(i);
        return s;
    }
}
