package dev.polaformer.numerics.cpu;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import static dev.polaformer.numerics.cpu.SgemmMicroKernel.MR;
import static dev.polaformer.numerics.cpu.SgemmMicroKernel.NR;
import static dev.polaformer.numerics.cpu.SgemmMicroKernel.TILE;

/**
 * Moves one register tile, as {@link SgemmMicroKernel} left it in a float array, to where it belongs: straight
 * into {@code C} (with {@code alpha}, {@code beta} and the edge of the matrix) when the product has a single
 * k-block, otherwise into a {@code double} accumulator tile, and from there into {@code C} after the last
 * k-block. The double path converts half a vector at a time: {@code H} has half the lanes of {@link Simd#F}, so
 * a float→double cast keeps the lane count and fills exactly one {@code D} vector.
 */
final class SgemmWriteBack {
    private SgemmWriteBack() {}

    private static final VectorSpecies<Float> F = Simd.F;
    private static final int L = Simd.L;
    /** Floats of half a vector, to widen into {@link #D}. */
    private static final VectorSpecies<Float> H =
            VectorSpecies.of(float.class, VectorShape.forBitSize(Math.max(64, F.vectorBitSize() / 2)));
    private static final VectorSpecies<Double> D = VectorSpecies.of(double.class, VectorShape.forBitSize(H.length() * 64));
    private static final int HL = H.length();

    /** {@code C[rows × cols] = alpha·tile + beta·C}; {@code beta == 0} never reads {@code C}. */
    static void toC(float[] tile, int rows, int cols, float alpha, float beta, float[] c, int cOff, int ldc) {
        FloatVector va = FloatVector.broadcast(F, alpha), vb = FloatVector.broadcast(F, beta);
        for (int r = 0; r < rows; r++) {
            int t = r * NR, ci = cOff + r * ldc;
            int j = 0;
            for (; j + L <= cols; j += L) {
                FloatVector x = FloatVector.fromArray(F, tile, t + j).mul(va);
                if (beta != 0) x = FloatVector.fromArray(F, c, ci + j).fma(vb, x);
                x.intoArray(c, ci + j);
            }
            if (j < cols) {
                VectorMask<Float> in = F.indexInRange(j, cols);
                FloatVector x = FloatVector.fromArray(F, tile, t + j).mul(va);
                if (beta != 0) x = FloatVector.fromArray(F, c, ci + j, in).fma(vb, x);
                x.intoArray(c, ci + j, in);
            }
        }
    }

    /** {@code acc[aOff, aOff + TILE) = tile} (first k-block) or {@code += tile}, in double. */
    static void accumulate(float[] tile, boolean first, double[] acc, int aOff) {
        for (int i = 0; i < TILE; i += HL) {
            DoubleVector x = (DoubleVector) FloatVector.fromArray(H, tile, i).castShape(D, 0);
            if (!first) x = x.add(DoubleVector.fromArray(D, acc, aOff + i));
            x.intoArray(acc, aOff + i);
        }
    }

    /** {@code C[rows × cols] = alpha·(acc + tile) + beta·C}, computed in double and rounded once. */
    static void finish(float[] tile, double[] acc, int aOff, int rows, int cols, float alpha, float beta,
                       float[] c, int cOff, int ldc) {
        DoubleVector va = DoubleVector.broadcast(D, alpha), vb = DoubleVector.broadcast(D, beta);
        int whole = cols - cols % HL;
        for (int r = 0; r < rows; r++) {
            int t = r * NR, ci = cOff + r * ldc;
            for (int j = 0; j < whole; j += HL) {
                DoubleVector s = (DoubleVector) FloatVector.fromArray(H, tile, t + j).castShape(D, 0);
                s = s.add(DoubleVector.fromArray(D, acc, aOff + t + j)).mul(va);
                if (beta != 0) s = ((DoubleVector) FloatVector.fromArray(H, c, ci + j).castShape(D, 0)).fma(vb, s);
                ((FloatVector) s.castShape(H, 0)).intoArray(c, ci + j);
            }
            for (int j = whole; j < cols; j++) {
                double s = alpha * ((double) tile[t + j] + acc[aOff + t + j]);
                if (beta != 0) s += (double) beta * c[ci + j];
                c[ci + j] = (float) s;
            }
        }
    }

    /**
     * {@code C[rows × cols] = alpha·Σ_p acc[aOff + p·partSize ..] + beta·C}: the tile summed over the
     * {@code parts} accumulators of a product whose k-blocks were split between tasks.
     */
    static void finishParts(double[] acc, int aOff, int parts, int partSize, int rows, int cols, float alpha,
                            float beta, float[] c, int cOff, int ldc) {
        DoubleVector va = DoubleVector.broadcast(D, alpha), vb = DoubleVector.broadcast(D, beta);
        int whole = cols - cols % HL;
        for (int r = 0; r < rows; r++) {
            int t = aOff + r * NR, ci = cOff + r * ldc;
            for (int j = 0; j < whole; j += HL) {
                DoubleVector s = DoubleVector.fromArray(D, acc, t + j);
                for (int p = 1; p < parts; p++) s = s.add(DoubleVector.fromArray(D, acc, t + p * partSize + j));
                s = s.mul(va);
                if (beta != 0) s = ((DoubleVector) FloatVector.fromArray(H, c, ci + j).castShape(D, 0)).fma(vb, s);
                ((FloatVector) s.castShape(H, 0)).intoArray(c, ci + j);
            }
            for (int j = whole; j < cols; j++) {
                double s = acc[t + j];
                for (int p = 1; p < parts; p++) s += acc[t + p * partSize + j];
                s *= alpha;
                if (beta != 0) s += (double) beta * c[ci + j];
                c[ci + j] = (float) s;
            }
        }
    }

    /** {@code C[r][j] += bias[bo + j]} for {@code r < rows}, {@code j < cols}: a finished tile's bias. */
    static void addBias(float[] c, int cOff, int ldc, int rows, int cols, float[] bias, int bo) {
        for (int r = 0; r < rows; r++) {
            int ci = cOff + r * ldc;
            int j = 0;
            for (; j + L <= cols; j += L) {
                FloatVector.fromArray(F, c, ci + j).add(FloatVector.fromArray(F, bias, bo + j)).intoArray(c, ci + j);
            }
            for (; j < cols; j++) c[ci + j] += bias[bo + j];
        }
    }
}
