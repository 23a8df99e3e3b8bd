package dev.polaformer.numerics.cpu;

import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class VectorMathTest {
    private static float[] apply(float[] x, boolean minusOne) {
        float[] y = new float[x.length];
        int i = 0;
        for (; i + Simd.L <= x.length; i += Simd.L) {
            FloatVector v = FloatVector.fromArray(Simd.F, x, i);
            (minusOne ? VectorMath.expm1(v) : VectorMath.exp(v)).intoArray(y, i);
        }
        float[] tail = new float[Simd.L];
        System.arraycopy(x, i, tail, 0, x.length - i);
        FloatVector v = FloatVector.fromArray(Simd.F, tail, 0);
        (minusOne ? VectorMath.expm1(v) : VectorMath.exp(v)).intoArray(tail, 0);
        System.arraycopy(tail, 0, y, i, x.length - i);
        return y;
    }

    @Test
    void expIsWithinTwoUlpOfMathExpOverTheWholeRange() {
        int n = 400_001;
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = -103f + 191.7f * i / (n - 1);
        float[] y = apply(x, false);
        double worst = 0;
        for (int i = 0; i < n; i++) {
            double ref = Math.exp(x[i]);
            if (ref > Float.MAX_VALUE) {
                assertEquals(Float.POSITIVE_INFINITY, y[i], "exp(" + x[i] + ")");
                continue;
            }
            double ulp = Math.ulp((float) ref);
            worst = Math.max(worst, Math.abs(y[i] - ref) / ulp);
        }
        assertTrue(worst <= 2, "worst error " + worst + " ulp");
        float[] edge = apply(new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 0f, -200f, 200f, 1f}, false);
        assertTrue(Float.isNaN(edge[0]));
        assertEquals(Float.POSITIVE_INFINITY, edge[1]);
        assertEquals(0f, edge[2]);
        assertEquals(1f, edge[3]);
        assertEquals(0f, edge[4]);
        assertEquals(Float.POSITIVE_INFINITY, edge[5]);
        assertEquals((float) Math.E, edge[6], Math.ulp((float) Math.E));
    }

    @Test
    void expm1IsRelativelyAccurateNearZeroToo() {
        int n = 200_001;
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = -20f + 40f * i / (n - 1);
        x[n / 2] = 1e-30f;
        float[] y = apply(x, true);
        double worst = 0;
        for (int i = 0; i < n; i++) {
            double ref = Math.expm1(x[i]);
            worst = Math.max(worst, Math.abs(y[i] - ref) / Math.ulp((float) ref));
        }
        assertTrue(worst <= 3, "worst error " + worst + " ulp");
    }

    @Test
    void lanesAreSummedInLaneOrder() {
        float[] a = new float[Simd.L];
        a[0] = 1e8f;
        a[1] = 1f;
        a[Simd.L - 1] = -1e8f;
        // (1e8 + 1) rounds to 1e8 in float, then − 1e8 gives 0: the order is fixed, not a tree
        assertEquals(0f, VectorMath.sum(FloatVector.fromArray(Simd.F, a, 0)));
    }
}
