package dev.polaformer.numerics.cpu;

import dev.polaformer.numerics.reference.PointwiseKernels;

/**
 * GELU and its derivative in double, relatively accurate over the whole range: the oracle for the accuracy
 * sweep in {@link PointwiseParityTest}.
 *
 * <p>For x ≥ −3 this is {@link PointwiseKernels}' erf. Below that the reference's {@code 1 + erf(x/√2)}
 * cancels (it loses relative accuracy from x ≈ −5 and returns −0 for x &lt; −8.3, where gelu is ~1e-16 and
 * smaller), so the oracle there is {@code Φ(−a) = φ(a)·R(a)} with the Mills ratio R from its continued
 * fraction, which has no cancellation.
 */
final class GeluOracle {
    private GeluOracle() {}

    private static final double INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

    /** Φ(x) to about 1e-15 relative, including far into the lower tail. */
    static double phi(double x) {
        if (x >= -3) return 0.5 * (1 + PointwiseKernels.erf(x * Math.sqrt(0.5)));
        return density(x) * millsRatio(-x);
    }

    static double density(double x) {
        return INV_SQRT_2PI * Math.exp(-0.5 * x * x);
    }

    /** R(a) = Φ(−a)/φ(a) = 1/(a + 1/(a + 2/(a + 3/(a + ...)))), for a ≥ 3. */
    static double millsRatio(double a) {
        double t = a;
        for (int k = 400; k >= 1; k--) t = a + k / t;
        return 1 / t;
    }

    static double gelu(double x) {
        return x * phi(x);
    }

    /** Φ(x) + x·φ(x), arranged without cancellation in the lower tail. */
    static double geluGrad(double x) {
        if (x >= -3) return phi(x) + x * density(x);
        return density(x) * (millsRatio(-x) + x);
    }
}
