package dev.polaformer.numerics;

import java.util.function.DoubleSupplier;

import static org.junit.jupiter.api.Assertions.fail;

/** Central-difference gradients in double, to check analytic backwards. */
public final class FiniteDifference {
    private FiniteDifference() {}

    /**
     * The gradient of {@code loss} with respect to {@code x}, which {@code loss} reads; {@code x} is perturbed in
     * place one element at a time and restored.
     */
    public static double[] gradient(DoubleSupplier loss, double[] x, double h) {
        double[] g = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            double keep = x[i];
            x[i] = keep + h;
            double up = loss.getAsDouble();
            x[i] = keep - h;
            double down = loss.getAsDouble();
            x[i] = keep;
            g[i] = (up - down) / (2 * h);
        }
        return g;
    }

    /**
     * Asserts {@code analytic} ≈ the finite-difference gradient to {@code tol} relative to its largest element,
     * plus 1e-9 absolute: the rounding floor of a central difference with step 1e-6 on an O(1) loss.
     */
    public static void check(String what, DoubleSupplier loss, double[] x, double[] analytic, double tol) {
        double[] numeric = gradient(loss, x, 1e-6);
        double max = 1e-12;
        for (double v : numeric) max = Math.max(max, Math.abs(v));
        for (int i = 0; i < x.length; i++) {
            double err = Math.abs(numeric[i] - analytic[i]);
            if (!(err <= tol * max + 1e-9)) {
                fail(String.format("%s: d/dx[%d] analytic %.12g, finite difference %.12g (|err| %.3g > %.1e·%.4g)",
                        what, i, analytic[i], numeric[i], err, tol, max));
            }
        }
    }

    /** {@code Σ y·gy}: the scalar whose gradient a backward with upstream {@code gy} computes. */
    public static double dot(double[] y, double[] gy) {
        double s = 0;
        for (int i = 0; i < y.length; i++) s += y[i] * gy[i];
        return s;
    }
}
