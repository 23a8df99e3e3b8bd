package dev.polaformer.numerics.cpu;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import static dev.polaformer.numerics.cpu.Simd.F;
import static dev.polaformer.numerics.cpu.Simd.L;

/**
 * Dot products of float runs accumulated in double lanes: each float vector is widened into two double
 * vectors of {@link Simd#F}'s size, so the products are exact and only the double sums round. For the few
 * reductions where float blocks are not good enough: a sum of squares whose float squares may overflow
 * (above 1.8e19), and the softmax backward's {@code Σ dy·y}, whose rounding lands directly in a cancelling
 * difference.
 */
final class DoubleDot {
    private DoubleDot() {}

    /** Doubles in a vector of {@link Simd#F}'s size. */
    private static final VectorSpecies<Double> D = F.withLanes(double.class);

    /** {@code Σ a[ao+i]·b[bo+i]} over {@code n} contiguous elements, in double. */
    static double dot(float[] a, int ao, float[] b, int bo, int n) {
        DoubleVector lo = DoubleVector.zero(D), hi = DoubleVector.zero(D);
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += L) {
            FloatVector va = FloatVector.fromArray(F, a, ao + i), vb = FloatVector.fromArray(F, b, bo + i);
            DoubleVector a0 = (DoubleVector) va.convertShape(VectorOperators.F2D, D, 0);
            DoubleVector a1 = (DoubleVector) va.convertShape(VectorOperators.F2D, D, 1);
            DoubleVector b0 = (DoubleVector) vb.convertShape(VectorOperators.F2D, D, 0);
            DoubleVector b1 = (DoubleVector) vb.convertShape(VectorOperators.F2D, D, 1);
            lo = a0.fma(b0, lo);
            hi = a1.fma(b1, hi);
        }
        double s = VectorMath.sum(lo.add(hi));
        for (; i < n; i++) s += (double) a[ao + i] * b[bo + i];
        return s;
    }

    /** {@code Σ x²} over {@code n} elements with stride {@code stride}, in double. */
    static double squares(float[] x, int xo, int stride, int n) {
        if (stride == 1) return dot(x, xo, x, xo, n);
        double s = 0;
        for (int i = 0; i < n; i++) {
            double v = x[xo + i * stride];
            s += v * v;
        }
        return s;
    }
}
