package dev.polaformer.numerics.cpu;

import dev.polaformer.numerics.Tensor;
import dev.polaformer.numerics.TestData;
import dev.polaformer.numerics.reference.PointwiseKernels;
import org.junit.jupiter.api.Test;

import static dev.polaformer.numerics.cpu.CpuParity.CPU;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Measures the CPU GELU against an accurate double oracle over the whole float range where it is not 0 or x:
 * every float in [−14, 14] on a 2⁻¹² grid, and a million samples of N(0, 4²).
 *
 * <p>The oracle is {@link PointwiseKernels} for x ≥ −3. Below that the reference's {@code 1 + erf(x/√2)}
 * cancels (it returns −0 for x &lt; −8.3, where gelu is ~1e-16 and smaller), so the oracle there is
 * {@code Φ(−a) = φ(a)·R(a)} with the Mills ratio R from its continued fraction, which has no cancellation.
 * The test prints the measured maxima; {@link GeluKernels} quotes them.
 */
class GeluAccuracyTest {

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

    @Test
    void oracleAgreesWithTheReferenceWhereBothAreAccurate() {
        for (double x = -5; x <= -3; x += 0.0625) {
            double viaErf = 0.5 * (1 + PointwiseKernels.erf(x * Math.sqrt(0.5)));
            double viaFraction = density(x) * millsRatio(-x);
            assertEquals(viaErf, viaFraction, 1e-9 * viaErf, "Φ(" + x + ")");
        }
    }

    @Test
    void geluIsRelativelyAccurateEverywhere() {
        int grid = 28 * 4096 + 1;
        float[] normal = TestData.normal(77, 1_000_000, 0, 4);
        float[] x = new float[grid + normal.length];
        for (int i = 0; i < grid; i++) x[i] = -14f + i / 4096f;
        System.arraycopy(normal, 0, x, grid, normal.length);
        float[] ones = new float[x.length];
        java.util.Arrays.fill(ones, 1f);
        try (Tensor xt = CPU.fromArray(x, x.length); Tensor y = CPU.empty(x.length);
             Tensor dy = CPU.fromArray(ones, x.length); Tensor dx = CPU.empty(x.length)) {
            CPU.gelu(xt, y);
            CPU.geluBackward(xt, dy, dx);
            float[] g = y.toArray(), d = dx.toArray();
            double worst = 0, worstGrad = 0;
            float at = 0, atGrad = 0;
            for (int i = 0; i < x.length; i++) {
                double ref = gelu(x[i]);
                if (Math.abs(ref) >= Float.MIN_NORMAL) {
                    double e = Math.abs(g[i] - ref) / Math.abs(ref);
                    if (e > worst) {
                        worst = e;
                        at = x[i];
                    }
                }
                double refGrad = geluGrad(x[i]);
                // relative to |Φ(x)| + |x·φ(x)|: the two terms cancel at gelu's root near −0.7518, where no float
                // formula is relatively accurate, and elsewhere this is |gelu'| within a factor of 3
                double size = Math.abs(phi(x[i])) + Math.abs(x[i] * density(x[i]));
                double eg = Math.abs(d[i] - refGrad) / size;
                if (size >= Float.MIN_NORMAL && eg > worstGrad) {
                    worstGrad = eg;
                    atGrad = x[i];
                }
            }
            System.out.printf("GELU max relative error %.3g at x = %s; gelu' max error (relative to |Φ|+|xφ|) %.3g at x = %s (%s)%n",
                    worst, at, worstGrad, atGrad, Simd.describe());
            assertTrue(worst <= 6e-7, "gelu relative error " + worst + " at x = " + at);
            assertTrue(worstGrad <= 6e-7, "gelu' relative error " + worstGrad + " at x = " + atGrad);
        }
    }
}
