package dev.polaformer.numerics.cpu;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

import static dev.polaformer.numerics.cpu.Simd.F;

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
 *
 * <p><b>Inlining.</b> These methods take and return vectors, so they are fast only where C2 inlines them: a call
 * it does not inline passes boxed vectors, an allocation per vector. The Vector API's own methods are always
 * inlined ({@code @ForceInline}); ours are not, and C2 stops inlining them once the method it compiles has
 * grown past its node budget ({@code NodeCountInliningCutoff}, about 18,000 IR nodes: one exponential is
 * about 10,000 while it is parsed). So: these methods use no helpers of their own; a kernel calls
 * {@link #exp}/{@link #expm1} early in a small loop; and horizontal sums late in a large kernel go through
 * an array ({@code v.intoArray(lanes, 0)}, then {@link #sum(float[], int)}, the same order) rather than
 * {@link #sum(FloatVector)}. {@code JitCompilationTest} fails when one of our vector-passing calls is left
 * un-inlined in C2 code.
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
        FloatVector r = n.fma(FloatVector.broadcast(F, -LN2_HI), xc).add(n.mul(-LN2_LO));  // |r| ≤ ln2/2
        // 1 + r + ... + r⁷/7!: for |r| ≤ ln2/2 the truncation error is below 1e-9 relative
        FloatVector p = r.fma(1f / 5040, 1f / 720).fma(r, FloatVector.broadcast(F, 1f / 120))
                .fma(r, FloatVector.broadcast(F, 1f / 24)).fma(r, FloatVector.broadcast(F, 1f / 6))
                .fma(r, FloatVector.broadcast(F, 0.5f)).fma(r, FloatVector.broadcast(F, 1f))
                .fma(r, FloatVector.broadcast(F, 1f));
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
        FloatVector q = x.fma(1f / 362880, 1f / 40320).fma(x, FloatVector.broadcast(F, 1f / 5040))
                .fma(x, FloatVector.broadcast(F, 1f / 720)).fma(x, FloatVector.broadcast(F, 1f / 120))
                .fma(x, FloatVector.broadcast(F, 1f / 24)).fma(x, FloatVector.broadcast(F, 1f / 6))
                .fma(x, FloatVector.broadcast(F, 0.5f)).fma(x, FloatVector.broadcast(F, 1f)).mul(x);
        return big.blend(q, x.abs().compare(VectorOperators.LT, 0.5f));
    }

    /** The sum of the lanes, added in lane order (lane 0 first). */
    static float sum(FloatVector v) {
        float s = 0;
        for (int i = 0; i < Simd.L; i++) s += v.lane(i);
        return s;
    }

    /** The sum of {@link Simd#L} values stored from a vector at {@code a[o..]}, added as {@link #sum(FloatVector)} does. */
    static float sum(float[] a, int o) {
        float s = 0;
        for (int i = 0; i < Simd.L; i++) s += a[o + i];
        return s;
    }

    /** The sum of the lanes, added in lane order. */
    static double sum(DoubleVector v) {
        double s = 0;
        for (int i = 0; i < v.length(); i++) s += v.lane(i);
        return s;
    }
}
