package dev.polaformer.numerics;

import java.util.SplittableRandom;

/** Standard-normal draws that are the same on every JDK (seeded initialisation and test data depend on it). */
public final class Gaussian {
    private Gaussian() {}

    /** Marsaglia's polar method, one value per call. */
    public static double next(SplittableRandom r) {
        double u, v, s;
        do {
            u = 2 * r.nextDouble() - 1;
            v = 2 * r.nextDouble() - 1;
            s = u * u + v * v;
        } while (s >= 1 || s == 0);
        return u * Math.sqrt(-2 * Math.log(s) / s);
    }
}
