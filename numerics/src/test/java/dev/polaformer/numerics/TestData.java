package dev.polaformer.numerics;

import java.util.SplittableRandom;

/** Seeded random inputs for tests. */
public final class TestData {
    private TestData() {}

    /** {@code n} standard-normal floats. */
    public static float[] normal(long seed, int n) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) Gaussian.next(r);
        return a;
    }

    /** {@code n} floats drawn from N(mean, std²). */
    public static float[] normal(long seed, int n, double mean, double std) {
        float[] a = normal(seed, n);
        for (int i = 0; i < n; i++) a[i] = (float) (mean + std * a[i]);
        return a;
    }

    /** {@code n} floats uniform in [lo, hi). */
    public static float[] uniform(long seed, int n, double lo, double hi) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (lo + (hi - lo) * r.nextDouble());
        return a;
    }

    public static double[] widen(float[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) d[i] = a[i];
        return d;
    }

    /** A standard-normal tensor of {@code shape} on {@code backend}. */
    public static Tensor normal(Backend backend, long seed, int... shape) {
        return backend.fromArray(normal(seed, (int) Shapes.checkedSize(shape)), shape);
    }
}
