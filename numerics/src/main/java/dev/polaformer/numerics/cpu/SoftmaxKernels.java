package dev.polaformer.numerics.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;

import static dev.polaformer.numerics.cpu.Simd.F;
import static dev.polaformer.numerics.cpu.Simd.L;

/**
 * Softmax of one contiguous row and its backward.
 *
 * <p>The row maximum is subtracted before {@code exp}, so no finite row overflows, and the rounding error of
 * that subtraction is carried into the result (2Sum), so each probability is accurate to a few ulp however far
 * below the maximum it lies. The normaliser {@code Σ exp} is summed in float runs of at most 64 vectors added
 * into double; the backward's {@code Σ dy·y} in double lanes ({@link DoubleDot}), since its rounding lands in
 * the cancelling difference {@code dy − Σ dy·y}.
 */
final class SoftmaxKernels {
    private SoftmaxKernels() {}

    private static final int FLUSH = RowReduction.BLOCK * L;

    /** {@code y[yo..yo+n) = softmax(x[xo..xo+n))}; y may be x. */
    static void softmax(float[] x, int xo, float[] y, int yo, int n) {
        // the maximum
        FloatVector mx = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        int bound = F.loopBound(n), i = 0;
        for (; i < bound; i += L) mx = mx.max(FloatVector.fromArray(F, x, xo + i));
        float max = mx.reduceLanes(VectorOperators.MAX);
        for (; i < n; i++) max = Math.max(max, x[xo + i]);
        // y = exp(x − max), summed
        double sum = 0;
        for (int start = 0; start < n; start += FLUSH) {
            int end = Math.min(n, start + FLUSH);
            FloatVector acc = FloatVector.zero(F);
            for (int j = start; j < end; j += L) {
                VectorMask<Float> m = F.indexInRange(j, end);
                FloatVector v = FloatVector.fromArray(F, x, xo + j, m);
                // x − max rounds by up to |x − max|·2⁻²⁴, which exp turns into relative error (5e-7 at
                // e⁻⁹); its exact rounding error r (2Sum) restores it: exp(s + r) = exp(s)·(1 + r)
                FloatVector s = v.sub(max);
                FloatVector fromMax = s.sub(v);
                FloatVector r = v.sub(s.sub(fromMax)).add(fromMax.neg().sub(max));
                r = r.blend(0f, r.test(VectorOperators.IS_NAN)); // x = −∞ (a masked entry): exp gives the 0
                FloatVector e = VectorMath.exp(s);
                e = e.fma(r, e);
                e.intoArray(y, yo + j, m);
                acc = acc.add(e, m);
            }
            sum += VectorMath.sum(acc);
        }
        // normalise
        float inv = (float) (1 / sum);
        i = 0;
        for (; i < bound; i += L) FloatVector.fromArray(F, y, yo + i).mul(inv).intoArray(y, yo + i);
        for (; i < n; i++) y[yo + i] *= inv;
    }

    /** {@code dx = y ⊙ (dy − Σ dy⊙y)} along one contiguous row; dx may be dy. */
    static void softmaxBackward(float[] y, int yo, float[] dy, int dyo, float[] dx, int dxo, int n) {
        double dot = DoubleDot.dot(y, yo, dy, dyo, n);
        // dy − dot cancels where dy ≈ dot: subtract the double dot as two floats, high part first
        float hi = (float) dot, lo = (float) (dot - hi);
        int bound = F.loopBound(n), i = 0;
        for (; i < bound; i += L) {
            FloatVector.fromArray(F, dy, dyo + i).sub(hi).sub(lo).mul(FloatVector.fromArray(F, y, yo + i))
                    .intoArray(dx, dxo + i);
        }
        for (; i < n; i++) dx[dxo + i] = y[yo + i] * (dy[dyo + i] - hi - lo);
    }
}
