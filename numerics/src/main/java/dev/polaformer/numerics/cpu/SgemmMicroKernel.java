package dev.polaformer.numerics.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The innermost loop of {@link Sgemm}: one {@code MR × NR} block of {@code C} ({@value #MR} rows, {@link #NV}
 * vectors wide) accumulated over one k-block from a packed {@code A} micro-panel and a packed {@code B}
 * micro-panel, in 24 {@link FloatVector} accumulators that C2 keeps in registers.
 *
 * <p>Per step of {@code k} it loads {@code NV} vectors of {@code B}, broadcasts {@code MR} scalars of {@code A}
 * (a broadcast from memory is one instruction) and issues {@code MR·NV} fused multiply-adds. 24 accumulators +
 * 2 {@code B} vectors + 1 broadcast = 27 of the 32 vector registers of AVX-512, so nothing spills; 24
 * independent FMA chains hide the FMA latency (4 cycles × 2 pipes needs at least 8). Every value lives in a
 * local variable and nothing in the loop is a call, so C2 compiles it to a straight run of {@code vfmadd231ps}
 * with memory-operand broadcasts. The result goes to a small array ({@code tile}), not to {@code C}: the
 * write-back ({@link SgemmWriteBack}) then applies {@code alpha}, {@code beta}, edges and the double-precision
 * accumulation, and no {@link FloatVector} ever crosses a method boundary (C2 would box it if it did not
 * inline the callee).
 */
final class SgemmMicroKernel {
    private SgemmMicroKernel() {}

    private static final VectorSpecies<Float> F = Simd.F;
    private static final int L = Simd.L;

    /** Rows of the register tile. */
    static final int MR = 12;
    /** Vectors per row of the register tile. */
    static final int NV = 2;
    /** Columns of the register tile. */
    static final int NR = NV * L;
    /** Floats in one tile. */
    static final int TILE = MR * NR;

    /**
     * {@code dst[dOff + r·ldd + c] = alpha · Σ_p a[aOff + p·MR + r] · b[bOff + p·NR + c]} over {@code p < kc},
     * for {@code r < MR}, {@code c < NR}: a full tile, stored either into {@code C} itself (a whole tile of a
     * single-k-block product with {@code beta = 0}) or into a tile buffer for {@link SgemmWriteBack}.
     *
     * @param a packed {@code A} micro-panel: for each {@code p}, the {@code MR} values of one column of {@code A}
     * @param b packed {@code B} micro-panel: for each {@code p}, the {@code NR} values of one row of {@code B}
     */
    static void multiply(int kc, float[] a, int aOff, float[] b, int bOff, float alpha, float[] dst, int dOff, int ldd) {
        FloatVector z = FloatVector.zero(F);
        FloatVector c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z;
        FloatVector c40 = z, c41 = z, c50 = z, c51 = z, c60 = z, c61 = z, c70 = z, c71 = z;
        FloatVector c80 = z, c81 = z, c90 = z, c91 = z, ca0 = z, ca1 = z, cb0 = z, cb1 = z;
        for (int p = 0; p < kc; p++) {
            int ai = aOff + p * MR, bi = bOff + p * NR;
            FloatVector b0 = FloatVector.fromArray(F, b, bi);
            FloatVector b1 = FloatVector.fromArray(F, b, bi + L);
            FloatVector x;
            x = FloatVector.broadcast(F, a[ai]);
            c00 = x.fma(b0, c00);
            c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(F, a[ai + 1]);
            c10 = x.fma(b0, c10);
            c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(F, a[ai + 2]);
            c20 = x.fma(b0, c20);
            c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(F, a[ai + 3]);
            c30 = x.fma(b0, c30);
            c31 = x.fma(b1, c31);
            x = FloatVector.broadcast(F, a[ai + 4]);
            c40 = x.fma(b0, c40);
            c41 = x.fma(b1, c41);
            x = FloatVector.broadcast(F, a[ai + 5]);
            c50 = x.fma(b0, c50);
            c51 = x.fma(b1, c51);
            x = FloatVector.broadcast(F, a[ai + 6]);
            c60 = x.fma(b0, c60);
            c61 = x.fma(b1, c61);
            x = FloatVector.broadcast(F, a[ai + 7]);
            c70 = x.fma(b0, c70);
            c71 = x.fma(b1, c71);
            x = FloatVector.broadcast(F, a[ai + 8]);
            c80 = x.fma(b0, c80);
            c81 = x.fma(b1, c81);
            x = FloatVector.broadcast(F, a[ai + 9]);
            c90 = x.fma(b0, c90);
            c91 = x.fma(b1, c91);
            x = FloatVector.broadcast(F, a[ai + 10]);
            ca0 = x.fma(b0, ca0);
            ca1 = x.fma(b1, ca1);
            x = FloatVector.broadcast(F, a[ai + 11]);
            cb0 = x.fma(b0, cb0);
            cb1 = x.fma(b1, cb1);
        }
        FloatVector va = FloatVector.broadcast(F, alpha);
        c00.mul(va).intoArray(dst, dOff);
        c01.mul(va).intoArray(dst, dOff + L);
        c10.mul(va).intoArray(dst, dOff + ldd);
        c11.mul(va).intoArray(dst, dOff + ldd + L);
        c20.mul(va).intoArray(dst, dOff + 2 * ldd);
        c21.mul(va).intoArray(dst, dOff + 2 * ldd + L);
        c30.mul(va).intoArray(dst, dOff + 3 * ldd);
        c31.mul(va).intoArray(dst, dOff + 3 * ldd + L);
        c40.mul(va).intoArray(dst, dOff + 4 * ldd);
        c41.mul(va).intoArray(dst, dOff + 4 * ldd + L);
        c50.mul(va).intoArray(dst, dOff + 5 * ldd);
        c51.mul(va).intoArray(dst, dOff + 5 * ldd + L);
        c60.mul(va).intoArray(dst, dOff + 6 * ldd);
        c61.mul(va).intoArray(dst, dOff + 6 * ldd + L);
        c70.mul(va).intoArray(dst, dOff + 7 * ldd);
        c71.mul(va).intoArray(dst, dOff + 7 * ldd + L);
        c80.mul(va).intoArray(dst, dOff + 8 * ldd);
        c81.mul(va).intoArray(dst, dOff + 8 * ldd + L);
        c90.mul(va).intoArray(dst, dOff + 9 * ldd);
        c91.mul(va).intoArray(dst, dOff + 9 * ldd + L);
        ca0.mul(va).intoArray(dst, dOff + 10 * ldd);
        ca1.mul(va).intoArray(dst, dOff + 10 * ldd + L);
        cb0.mul(va).intoArray(dst, dOff + 11 * ldd);
        cb1.mul(va).intoArray(dst, dOff + 11 * ldd + L);
    }
}
