package dev.polaformer.numerics.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;

import static dev.polaformer.numerics.cpu.Simd.F;
import static dev.polaformer.numerics.cpu.Simd.L;

/**
 * Exact (erf) GELU and its derivative, vectorised: {@code gelu(x) = x·Φ(x)}, {@code gelu'(x) = Φ(x) + x·φ(x)},
 * with Φ the standard normal CDF and φ its density.
 *
 * <h2>How Φ is computed</h2>
 * The Vector API has {@code EXP} but no {@code ERF}, and GELU needs Φ to float precision <em>relative</em> to
 * its value: for negative x, {@code gelu(x) = x·Φ(x)} is tiny, and an absolute-error approximation (the
 * familiar 1.5e-7 ones) would be all error there. So, with {@code a = |x|}:
 * <ul>
 *   <li>{@code a ≤ 0.75}: {@code Φ(x) = 1/2 + x·C(x²)}, C a degree-4 polynomial (the odd Taylor series of
 *       Φ − 1/2 fitted minimax on this interval, relative error 2.4e-9). At the edge Φ ≥ 0.23, so the 1/2 cancels
 *       at most about two bits.</li>
 *   <li>{@code a > 0.75}: {@code Φ(−a) = exp(−a²/2)·K(a)}, where {@code K(a) = Φ(−a)·exp(a²/2)} (the Mills
 *       ratio over √(2π)) is smooth and slowly varying, fitted as a rational function P4(a)/Q5(a) on
 *       [0.75, 14.5] with relative error 7e-10. Every coefficient of P and Q is positive, so evaluating them in
 *       float at a > 0 loses nothing to cancellation. For x > 0.75, Φ(x) = 1 − Φ(−x).</li>
 *   <li>{@code exp(−x²/2)} is taken without rounding x² first: x² = p + e exactly (p = x·x rounded, e by one
 *       FMA), then {@code exp(−x²/2) = exp(−p/2)·(1 − e/2)}. Rounding x² (or x/√2, as an erf(x/√2) form would)
 *       costs up to x²·2⁻²⁴ relative, 1e-5 near x = −13.</li>
 *   <li>In the lower tail gelu is formed as {@code (x·K(a))·exp(−x²/2)}, and gelu' as
 *       {@code exp(−x²/2)·(K(a) + x/√(2π))}: the exponential, the only tiny factor, comes last, so nothing
 *       underflows into subnormals before the result does (Φ(−13.1) alone is subnormal, gelu(−13.1) is not).</li>
 *   <li>Beyond a = 14.5 the tail term underflows float, so it is set to ±0 (this also keeps x² = ∞ from turning
 *       into NaN); NaN propagates, and gelu(−∞) is NaN as {@code x·0.5·(1 + erf)} gives.</li>
 * </ul>
 * Coefficients were fitted for this class (Lawson-weighted least squares on the relative error, in double,
 * then rounded to float and the rounded set re-verified).
 *
 * <h2>Measured accuracy</h2>
 * Against a double oracle (the reference's {@link dev.polaformer.numerics.reference.PointwiseKernels#gelu} for
 * x ≥ −3; below, where the reference's {@code 1 + erf} cancels and it returns −0 for x &lt; −8.3, Φ from the
 * Mills-ratio continued fraction), over every float in [−14, 14] on a 2⁻¹² grid plus 300,000 samples of
 * N(0, 4²), at 128-, 256- and 512-bit vectors (identical): max relative error of {@code gelu}
 * <b>3.9e-7</b> (≈ 3.3 ulp, at x = −5.67) wherever the result is a normal float; of {@code gelu'}
 * <b>5.1e-7</b> relative to {@code |Φ(x)| + |x·φ(x)|} (gelu' has a root at x ≈ −0.7518, where the two terms
 * cancel and no float formula is relatively accurate; elsewhere this is within a factor 3 of |gelu'|).
 * {@code PointwiseParityTest.geluAccuracySweep} prints these numbers.
 */
final class GeluKernels {
    private GeluKernels() {}

    private static final float A0 = 0.75f;
    private static final float A_MAX = 14.5f;
    private static final float INV_SQRT_2PI = (float) (1 / Math.sqrt(2 * Math.PI));

    // Φ(x) − 1/2 = x·C(x²) for |x| ≤ A0
    private static final float C0 = 0.3989422917366028f, C1 = -0.0664902925491333f, C2 = 0.009972348809242249f,
            C3 = -0.0011812850134447217f, C4 = 0.00010294051753589883f;
    // K(a) = Φ(−a)·exp(a²/2) = P(a)/Q(a) for A0 < a ≤ A_MAX
    private static final float P0 = 0.5000061392784119f, P1 = 0.4665575623512268f, P2 = 0.2061796337366104f,
            P3 = 0.048953086137771606f, P4 = 0.005574959330260754f;
    private static final float Q1 = 1.7310819625854492f, Q2 = 1.293310523033142f, Q3 = 0.5307169556617737f,
            Q4 = 0.1227099671959877f, Q5 = 0.013974304310977459f;

    /** {@code y[yo..yo+n) = gelu(x[xo..))}; y may be x. */
    static void gelu(float[] x, int xo, float[] unused, int unusedOffset, float[] y, int yo, int n) {
        // the coefficients as vectors, hoisted: FloatVector.fma has no (vector, scalar) form
        FloatVector c0 = FloatVector.broadcast(F, C0), c1 = FloatVector.broadcast(F, C1);
        FloatVector c2 = FloatVector.broadcast(F, C2), half = FloatVector.broadcast(F, 0.5f);
        FloatVector p0 = FloatVector.broadcast(F, P0), p1 = FloatVector.broadcast(F, P1);
        FloatVector p2 = FloatVector.broadcast(F, P2), q1 = FloatVector.broadcast(F, Q1);
        FloatVector q2 = FloatVector.broadcast(F, Q2), q3 = FloatVector.broadcast(F, Q3);
        FloatVector one = FloatVector.broadcast(F, 1f);
        for (int i = 0; i < n; i += L) {
            VectorMask<Float> m = F.indexInRange(i, n);
            FloatVector v = FloatVector.fromArray(F, x, xo + i, m);
            FloatVector a = v.abs();
            // exp(−x²/2) from the exact square p + e
            FloatVector p = v.mul(v);
            FloatVector e = v.fma(v, p.neg());
            FloatVector gauss = VectorMath.exp(p.mul(-0.5f)).mul(e.fma(-0.5f, 1f));
            // central: Φ = 1/2 + x·C(x²)
            FloatVector c = p.fma(C4, C3).fma(p, c2).fma(p, c1).fma(p, c0);
            FloatVector central = v.fma(c, half);
            // tail: Φ(−a) = exp(−a²/2)·P(a)/Q(a)
            FloatVector ac = a.min(A_MAX);
            FloatVector num = ac.fma(P4, P3).fma(ac, p2).fma(ac, p1).fma(ac, p0);
            FloatVector den = ac.fma(Q5, Q4).fma(ac, q3).fma(ac, q2).fma(ac, q1).fma(ac, one);
            // t = x·Φ(−a), multiplied in the order (x·K)·exp(−x²/2) so that no factor underflows before the
            // product does; beyond A_MAX it is ±0 (NaN for x = −∞, as x·0.5·(1 + erf) gives)
            FloatVector t = v.mul(num.div(den)).mul(gauss)
                    .blend(v.min(0f).mul(0f), a.compare(VectorOperators.GT, A_MAX));
            // x < 0: gelu = x·Φ(−a) = t;  x ≥ 0: gelu = x·(1 − Φ(−x)) = x − t
            FloatVector tail = t.blend(v.sub(t), v.compare(VectorOperators.GE, 0f));
            tail.blend(v.mul(central), a.compare(VectorOperators.LE, A0)).intoArray(y, yo + i, m);
        }
    }

    /** {@code dx[o..o+n) = dy·gelu'(x)}; dx may be x or dy. */
    static void geluBackward(float[] x, int xo, float[] dy, int dyo, float[] dx, int dxo, int n) {
        // the coefficients as vectors, hoisted: FloatVector.fma has no (vector, scalar) form
        FloatVector c0 = FloatVector.broadcast(F, C0), c1 = FloatVector.broadcast(F, C1);
        FloatVector c2 = FloatVector.broadcast(F, C2), half = FloatVector.broadcast(F, 0.5f);
        FloatVector p0 = FloatVector.broadcast(F, P0), p1 = FloatVector.broadcast(F, P1);
        FloatVector p2 = FloatVector.broadcast(F, P2), q1 = FloatVector.broadcast(F, Q1);
        FloatVector q2 = FloatVector.broadcast(F, Q2), q3 = FloatVector.broadcast(F, Q3);
        FloatVector one = FloatVector.broadcast(F, 1f);
        for (int i = 0; i < n; i += L) {
            VectorMask<Float> m = F.indexInRange(i, n);
            FloatVector v = FloatVector.fromArray(F, x, xo + i, m);
            FloatVector g = FloatVector.fromArray(F, dy, dyo + i, m);
            FloatVector a = v.abs();
            VectorMask<Float> far = a.compare(VectorOperators.GT, A_MAX);
            FloatVector p = v.mul(v);
            FloatVector e = v.fma(v, p.neg());
            FloatVector gauss = VectorMath.exp(p.mul(-0.5f)).mul(e.fma(-0.5f, 1f)).blend(0f, far);
            FloatVector c = p.fma(C4, C3).fma(p, c2).fma(p, c1).fma(p, c0);
            FloatVector central = v.fma(c, half);
            FloatVector ac = a.min(A_MAX);
            FloatVector num = ac.fma(P4, P3).fma(ac, p2).fma(ac, p1).fma(ac, p0);
            FloatVector den = ac.fma(Q5, Q4).fma(ac, q3).fma(ac, q2).fma(ac, q1).fma(ac, one);
            FloatVector k = num.div(den);
            FloatVector xc = v.mul(INV_SQRT_2PI);
            // Φ(x) + x·φ(x) with φ(x) = exp(−x²/2)/√(2π), the exponential factored out in the tails so nothing
            // underflows early: x < 0: exp(−x²/2)·(K + x/√(2π));  x ≥ 0: 1 + exp(−x²/2)·(x/√(2π) − K)
            FloatVector tail = gauss.mul(k.add(xc)).blend(gauss.fma(xc.sub(k), one), v.compare(VectorOperators.GE, 0f));
            FloatVector grad = tail.blend(gauss.fma(xc, central), a.compare(VectorOperators.LE, A0));
            g.mul(grad).intoArray(dx, dxo + i, m);
        }
    }
}
