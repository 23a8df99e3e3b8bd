package dev.polaformer.numerics;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * Element-wise comparison in the form the golden README prescribes:
 * {@code |got − ref| ≤ absOfMax·max|ref| + rel·|ref|}. The failure message names the worst element.
 */
public final class Closeness {
    private Closeness() {}

    public static void assertClose(String what, float[] ref, float[] got, double absOfMax, double rel) {
        double[] r = new double[ref.length];
        for (int i = 0; i < r.length; i++) r[i] = ref[i];
        assertClose(what, r, got, absOfMax, rel);
    }

    public static void assertClose(String what, double[] ref, float[] got, double absOfMax, double rel) {
        double[] g = new double[got.length];
        for (int i = 0; i < g.length; i++) g[i] = got[i];
        assertClose(what, ref, g, absOfMax, rel);
    }

    public static void assertClose(String what, double[] ref, double[] got, double absOfMax, double rel) {
        if (ref.length != got.length) fail(what + ": " + got.length + " values, expected " + ref.length);
        double max = 0;
        for (double v : ref) max = Math.max(max, Math.abs(v));
        int worst = -1;
        double worstRatio = 0;
        for (int i = 0; i < ref.length; i++) {
            double err = Math.abs(got[i] - ref[i]);
            double allowed = absOfMax * max + rel * Math.abs(ref[i]);
            if (!(err <= allowed)) {
                double ratio = allowed == 0 ? Double.POSITIVE_INFINITY : err / allowed;
                if (worst < 0 || ratio > worstRatio || Double.isNaN(err)) {
                    worst = i;
                    worstRatio = Double.isNaN(err) ? Double.POSITIVE_INFINITY : ratio;
                }
            }
        }
        if (worst >= 0) {
            fail(String.format("%s: element %d is %.9g, expected %.9g (|err| %.3g, allowed %.3g = %.1e·max|ref| %.4g + %.1e·|ref|)",
                    what, worst, got[worst], ref[worst], Math.abs(got[worst] - ref[worst]),
                    absOfMax * max + rel * Math.abs(ref[worst]), absOfMax, max, rel));
        }
    }

    /** Largest {@code |got − ref| / max|ref|}; for reports. */
    public static double maxRelativeToMax(float[] ref, float[] got) {
        double max = 0, err = 0;
        for (int i = 0; i < ref.length; i++) {
            max = Math.max(max, Math.abs(ref[i]));
            err = Math.max(err, Math.abs((double) got[i] - ref[i]));
        }
        return max == 0 ? err : err / max;
    }
}
