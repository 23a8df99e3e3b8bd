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
     * {@code tile (MR × NR, row-major) = Σ_p a[aOff + p·MR + r] · b[bOff + p·NR + c]} over {@code p < kc}.
     *
     * @param a packed {@code A} micro-panel: for each {@code p}, the {@code MR} values of one column of {@code A}
     * @param b packed {@code B} micro-panel: for each {@code p}, the {@code NR} values of one row of {@code B}
     */
    static void multiply(int kc, float[] a, int aOff, float[] b, int bOff, float[] tile) {
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
        c00.intoArray(tile, 0);
        c01.intoArray(tile, L);
        c10.intoArray(tile, NR);
        c11.intoArray(tile, NR + L);
        c20.intoArray(tile, 2 * NR);
        c21.intoArray(tile, 2 * NR + L);
        c30.intoArray(tile, 3 * NR);
        c31.intoArray(tile, 3 * NR + L);
        c40.intoArray(tile, 4 * NR);
        c41.intoArray(tile, 4 * NR + L);
        c50.intoArray(tile, 5 * NR);
        c51.intoArray(tile, 5 * NR + L);
        c60.intoArray(tile, 6 * NR);
        c61.intoArray(tile, 6 * NR + L);
        c70.intoArray(tile, 7 * NR);
        c71.intoArray(tile, 7 * NR + L);
        c80.intoArray(tile, 8 * NR);
        c81.intoArray(tile, 8 * NR + L);
        c90.intoArray(tile, 9 * NR);
        c91.intoArray(tile, 9 * NR + L);
        ca0.intoArray(tile, 10 * NR);
        ca1.intoArray(tile, 10 * NR + L);
        cb0.intoArray(tile, 11 * NR);
        cb1.intoArray(tile, 11 * NR + L);
    }
}
