package dev.polaformer.numerics.cpu;

import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.Backends;
import dev.polaformer.numerics.Closeness;
import dev.polaformer.numerics.Tensor;
import dev.polaformer.numerics.TestData;
import dev.polaformer.numerics.reference.DenseKernels;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link Sgemm} and the {@code cpu} backend's {@code matmul} against the double-precision reference.
 *
 * <p>Tolerance. Inputs are standard normal, so each output is a sum of {@code K} unit-sized products with a
 * spread of {@code √K} (its value may cancel to almost nothing, so the error is measured against
 * {@code max(max|ref|, |alpha|·√K)}, not against the value). The kernel sums one k-block ({@code kc ≤ 256} terms) in
 * float and the blocks in double: within a block, {@code kc} roundings of partial sums of size {@code √p}
 * add up like a random walk to about {@code u·kc/√2} ({@code u = 2⁻²⁴ ≈ 6e-8}), i.e. {@code ≈ 7e-7·√kc}
 * relative to the spread of one block; the double sum of {@code K/kc} independent block errors then keeps the
 * same ratio to the spread of the whole sum, whatever {@code K}. {@code TOL = 1e-6} relative to that scale is
 * several times the worst element seen for 256-term products and far below any indexing mistake, which is
 * O(1); {@link #longKKeepsShortKAccuracy} shows that a plain float loop over a long {@code K} misses it.
 */
class SgemmTest {
    /** Allowed error relative to {@code max(max|ref|, √K)}, for every {@code K} (see the class comment). */
    private static final double TOL = 1e-6;

    private static final Parallel ONE = new Parallel(1);
    private static final Parallel TWO = new Parallel(2);
    /** Tiny blocks, so that small matrices run several k-blocks, super-blocks (M, N, K) and parallel tasks. */
    private static final Sgemm.Blocking TINY = new Sgemm.Blocking(7, 24, 600, 2000, 0);
    /** Short k-blocks but room for several accumulators: long-K products split K between tasks. */
    private static final Sgemm.Blocking SPLIT_K = new Sgemm.Blocking(8, 24, 1 << 16, 1 << 15, 0);

    private static final Backend REF = Backends.get("reference");
    private static final CpuBackend CPU1 = new CpuBackend(1);
    private static final CpuBackend CPU2 = new CpuBackend(2);

    @AfterAll
    static void trim() {
        REF.trim();
        CPU1.trim();
        CPU2.trim();
    }

    // ---------------------------------------------------------------- arrays, against DenseKernels

    /** {@code |got − ref| ≤ TOL·max(max|ref|, |alpha|·√K)} for every element (unit-normal inputs). */
    private static void assertGemmClose(String what, double[] ref, float[] got, int k, float alpha) {
        double max = 0;
        for (double v : ref) max = Math.max(max, Math.abs(v));
        double scale = Math.max(max, Math.abs(alpha) * Math.sqrt(k));
        Closeness.assertClose(what, ref, got, max == 0 ? 0 : TOL * scale / max, 0);
    }

    private static void assertGemmClose(String what, float[] ref, float[] got, int k, float alpha) {
        double[] r = new double[ref.length];
        for (int i = 0; i < r.length; i++) r[i] = ref[i];
        assertGemmClose(what, r, got, k, alpha);
    }

    /** Stored operand sizes with a padded leading dimension, and the product checked in double. */
    private static void checkArrays(Sgemm.Blocking blocking, Parallel parallel, boolean ta, boolean tb,
                                    int m, int n, int k, float alpha, float beta, long seed) {
        int aRows = ta ? k : m, aCols = ta ? m : k, bRows = tb ? n : k, bCols = tb ? k : n;
        int lda = aCols + 3, ldb = bCols + 1, ldc = n + 5, aOff = 2, bOff = 1, cOff = 3;
        float[] a = TestData.normal(seed, aOff + aRows * lda), b = TestData.normal(seed + 1, bOff + bRows * ldb);
        float[] c = TestData.normal(seed + 2, cOff + m * ldc);
        if (beta == 0) Arrays.fill(c, Float.NaN);
        double[] ad = dense(a, aOff, aRows, aCols, lda), bd = dense(b, bOff, bRows, bCols, ldb);
        double[] ref = beta == 0 ? new double[m * n] : dense(c, cOff, m, n, ldc);
        DenseKernels.matmul(1, m, n, k, ad, false, ta, bd, false, tb, ref, alpha, beta);
        float[] before = c.clone();
        Sgemm.gemm(blocking, parallel, ta, tb, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
        String what = String.format("gemm %s%s m=%d n=%d k=%d alpha=%s beta=%s threads=%d %s",
                ta ? "T" : "N", tb ? "T" : "N", m, n, k, alpha, beta, parallel.threads(), blocking);
        assertGemmClose(what, ref, denseFloat(c, cOff, m, n, ldc), k, alpha);
        assertUntouchedOutside(what, before, c, cOff, m, n, ldc);
    }

    private static double[] dense(float[] x, int off, int rows, int cols, int ld) {
        double[] d = new double[rows * cols];
        for (int i = 0; i < rows; i++) for (int j = 0; j < cols; j++) d[i * cols + j] = x[off + i * ld + j];
        return d;
    }

    private static float[] denseFloat(float[] x, int off, int rows, int cols, int ld) {
        float[] d = new float[rows * cols];
        for (int i = 0; i < rows; i++) System.arraycopy(x, off + i * ld, d, i * cols, cols);
        return d;
    }

    /** The padding between rows and around the matrix must keep its old values. */
    private static void assertUntouchedOutside(String what, float[] before, float[] after, int off, int rows, int cols,
                                               int ld) {
        for (int p = 0; p < after.length; p++) {
            int rel = p - off, i = Math.floorDiv(rel, ld), j = Math.floorMod(rel, ld);
            boolean inside = rel >= 0 && i < rows && j < cols;
            if (!inside && Float.floatToRawIntBits(before[p]) != Float.floatToRawIntBits(after[p])) {
                throw new AssertionError(what + ": wrote outside C at storage index " + p);
            }
        }
    }

    @Test
    void allTransposesOverIrregularSizes() {
        int[] ms = {1, 3, 12, 13, 25, 70}, ns = {1, 7, 16, 31, 33, 64, 70}, ks = {1, 2, 9, 64, 67};
        long seed = 100;
        for (boolean ta : new boolean[] {false, true})
            for (boolean tb : new boolean[] {false, true})
                for (int m : ms)
                    for (int n : ns)
                        for (int k : ks) checkArrays(Sgemm.DEFAULT, ONE, ta, tb, m, n, k, 1f, 0f, seed++);
    }

    @Test
    void severalKBlocksSuperBlocksAndTasks() {
        // TINY blocking: k-blocks of 7, 2 rows of MR per task, packed B and accumulator budgets that force
        // super-blocks in N, K and M, every product parallel.
        int[] sizes = {1, 5, 13, 29, 50, 70};
        long seed = 5000;
        for (Parallel par : new Parallel[] {ONE, TWO})
            for (boolean ta : new boolean[] {false, true})
                for (boolean tb : new boolean[] {false, true})
                    for (int m : sizes)
                        for (int n : sizes)
                            for (int k : new int[] {6, 8, 40}) checkArrays(TINY, par, ta, tb, m, n, k, 1f, 0f, seed++);
        // Tall enough for many row tasks (their count rounded to a multiple of the threads).
        for (boolean ta : new boolean[] {false, true})
            for (int m : new int[] {100, 201}) checkArrays(TINY, TWO, ta, !ta, m, 45, 20, 1f, 0f, seed++);
    }

    @Test
    void longKWithFewRowsSplitsKBetweenThreads() {
        long seed = 7000;
        for (boolean ta : new boolean[] {false, true})
            for (boolean tb : new boolean[] {false, true})
                for (int[] s : new int[][] {{5, 7}, {13, 40}, {30, 33}, {1, 1}, {26, 70}})
                    for (float[] ab : new float[][] {{1f, 0f}, {0.5f, 1.5f}})
                        checkArrays(SPLIT_K, TWO, ta, tb, s[0], s[1], 100, ab[0], ab[1], seed++);
        // The library's blocking: a weight gradient of a narrow layer, dW (64×64) = dYᵀ·X over 5,000 tokens.
        checkArrays(Sgemm.DEFAULT, TWO, true, false, 64, 64, 5000, 1f, 1f, seed);
    }

    @Test
    void defaultBlockingWithTwoThreadsAndLongerK() {
        long seed = 9000;
        for (boolean ta : new boolean[] {false, true})
            for (boolean tb : new boolean[] {false, true}) {
                checkArrays(Sgemm.DEFAULT, TWO, ta, tb, 301, 77, 300, 1f, 0f, seed++);
                checkArrays(Sgemm.DEFAULT, TWO, ta, tb, 40, 200, 600, 1f, 0f, seed++);
                checkArrays(Sgemm.DEFAULT, TWO, ta, tb, 150, 33, 64, 1f, 0f, seed++);
            }
    }

    @Test
    void alphaAndBeta() {
        float[][] ab = {{1f, 0f}, {2.5f, 0f}, {1f, 1f}, {-0.5f, 0.75f}, {0f, 2f}, {0f, 0f}, {1.5f, -1f}};
        long seed = 20_000;
        for (float[] p : ab)
            for (Parallel par : new Parallel[] {ONE, TWO})
                for (int k : new int[] {0, 5, 40}) {
                    checkArrays(Sgemm.DEFAULT, par, false, true, 29, 35, k, p[0], p[1], seed++);
                    checkArrays(TINY, par, true, false, 29, 35, k, p[0], p[1], seed++);
                }
    }

    @Test
    void betaZeroIgnoresNaNInC() {
        // checkArrays fills C with NaN whenever beta == 0; this case also covers every path of the write-back.
        for (Sgemm.Blocking bl : new Sgemm.Blocking[] {Sgemm.DEFAULT, TINY})
            for (int k : new int[] {0, 3, 30}) checkArrays(bl, TWO, false, false, 17, 40, k, 1f, 0f, 31 + k);
    }

    /**
     * {@code K = 50,000}, as in a gradient {@code dW = dYᵀ·X} over many tokens: the error stays at the level of a
     * short product. As a control, the same dot products summed in a plain float loop miss the tolerance, so
     * the test would catch a kernel that accumulated {@code K} in float.
     */
    @Test
    void longKKeepsShortKAccuracy() {
        int m = 3, n = 20, k = 50_000;
        float[] a = TestData.normal(7, k * m), b = TestData.normal(8, k * n);
        double[] ref = new double[m * n];
        DenseKernels.matmul(1, m, n, k, TestData.widen(a), false, true, TestData.widen(b), false, false, ref, 1, 0);
        float[] c = new float[m * n];
        Sgemm.gemm(TWO, true, false, m, n, k, 1f, a, 0, m, b, 0, n, 0f, c, 0, n);
        assertGemmClose("gemm K=50000", ref, c, k, 1f);

        float[] plain = new float[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                float s = 0;
                for (int p = 0; p < k; p++) s = Math.fma(a[p * m + i], b[p * n + j], s);
                plain[i * n + j] = s;
            }
        double errPlain = Closeness.maxRelativeToMax(toFloat(ref), plain);
        double errOurs = Closeness.maxRelativeToMax(toFloat(ref), c);
        assertTrue(errPlain > TOL, "control: a plain float loop should miss the tolerance, error " + errPlain);
        assertTrue(errOurs * 4 < errPlain, "blocked double accumulation " + errOurs + " vs plain float " + errPlain);
    }

    private static float[] toFloat(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) f[i] = (float) d[i];
        return f;
    }

    @Test
    void batchedWithSharedOperandsAndStrides() {
        long seed = 40_000;
        for (Parallel par : new Parallel[] {ONE, TWO})
            for (boolean ta : new boolean[] {false, true})
                for (boolean tb : new boolean[] {false, true})
                    for (int sharing = 0; sharing < 3; sharing++) {
                        checkBatched(Sgemm.DEFAULT, par, 5, ta, tb, 13, 19, 21, sharing, 1f, 0f, seed++);
                        checkBatched(TINY, par, 9, ta, tb, 7, 33, 10, sharing, 0.5f, 2f, seed++);
                    }
    }

    /** {@code sharing}: 0 = both batched, 1 = one {@code A} for all, 2 = one {@code B} for all. */
    private static void checkBatched(Sgemm.Blocking blocking, Parallel parallel, int batch, boolean ta, boolean tb,
                                     int m, int n, int k, int sharing, float alpha, float beta, long seed) {
        int lda = (ta ? m : k) + 1, ldb = tb ? k : n, ldc = n + 2;
        int aRows = ta ? k : m, bRows = tb ? n : k;
        int strideA = sharing == 1 ? 0 : aRows * lda + 4, strideB = sharing == 2 ? 0 : bRows * ldb;
        int strideC = m * ldc + 1;
        float[] a = TestData.normal(seed, Math.max(1, batch * strideA) + aRows * lda);
        float[] b = TestData.normal(seed + 1, Math.max(1, batch * strideB) + bRows * ldb);
        float[] c = TestData.normal(seed + 2, batch * strideC);
        float[] expected = c.clone();
        for (int p = 0; p < batch; p++) {
            double[] ad = dense(a, p * strideA, aRows, ta ? m : k, lda), bd = dense(b, p * strideB, bRows, tb ? k : n, ldb);
            double[] cd = dense(c, p * strideC, m, n, ldc);
            DenseKernels.matmul(1, m, n, k, ad, false, ta, bd, false, tb, cd, alpha, beta);
            for (int i = 0; i < m; i++) for (int j = 0; j < n; j++) expected[p * strideC + i * ldc + j] = (float) cd[i * n + j];
        }
        Sgemm.gemmBatched(blocking, parallel, batch, ta, tb, m, n, k, alpha, a, 0, lda, strideA, b, 0, ldb, strideB,
                beta, c, 0, ldc, strideC);
        assertGemmClose("gemmBatched sharing=" + sharing + " ta=" + ta + " tb=" + tb + " threads="
                + parallel.threads(), expected, c, k, alpha);
    }

    @Test
    void tallBatchWithSharedBMergesIntoOneProduct() {
        // (batch, m, k) rows that follow each other, times one (k, n): the path that runs one tall product.
        int batch = 6, m = 17, n = 40, k = 33;
        float[] a = TestData.normal(1, batch * m * k), b = TestData.normal(2, k * n), c = new float[batch * m * n];
        double[] ref = new double[batch * m * n];
        DenseKernels.matmul(batch, m, n, k, TestData.widen(a), true, false, TestData.widen(b), false, false, ref, 1, 0);
        Sgemm.gemmBatched(TWO, batch, false, false, m, n, k, 1f, a, 0, k, m * k, b, 0, n, 0, 0f, c, 0, n, m * n);
        assertGemmClose("merged batch", ref, c, k, 1f);
    }

    @Test
    void attentionSizedBatchSpreadsOverThreads() {
        // 8 images · 4 heads of (196 × 32)·(32 × 196): small matrices, parallel over the batch.
        int batch = 32, m = 196, n = 196, k = 32;
        float[] q = TestData.normal(3, batch * m * k), kt = TestData.normal(4, batch * n * k), s = new float[batch * m * n];
        double[] ref = new double[batch * m * n];
        DenseKernels.matmul(batch, m, n, k, TestData.widen(q), true, false, TestData.widen(kt), true, true, ref, 0.125, 0);
        Sgemm.gemmBatched(TWO, batch, false, true, m, n, k, 0.125f, q, 0, k, m * k, kt, 0, k, n * k, 0f, s, 0, n, m * n);
        assertGemmClose("attention scores", ref, s, k, 0.125f);
    }

    // ---------------------------------------------------------------- the backend op, against the reference backend

    private static void checkMatmul(CpuBackend cpu, Tensor[] refArgs, Tensor[] cpuArgs, boolean ta, boolean tb,
                                    float alpha, float beta, String what) {
        REF.matmul(refArgs[0], ta, refArgs[1], tb, refArgs[2], alpha, beta);
        cpu.matmul(cpuArgs[0], ta, cpuArgs[1], tb, cpuArgs[2], alpha, beta);
        int k = ta ? refArgs[0].dim(-2) : refArgs[0].dim(-1);
        assertGemmClose(what, refArgs[2].toArray(), cpuArgs[2].toArray(), k, alpha);
    }

    private static Tensor on(Backend backend, float[] values, int... shape) {
        return backend.fromArray(values, shape);
    }

    @Test
    void backendMatmulTransposesAndBatches() {
        long seed = 60_000;
        for (CpuBackend cpu : new CpuBackend[] {CPU1, CPU2})
            for (boolean ta : new boolean[] {false, true})
                for (boolean tb : new boolean[] {false, true})
                    for (int[] s : new int[][] {{1, 1, 1}, {1, 17, 5}, {37, 1, 3}, {20, 33, 1}, {45, 70, 66}}) {
                        int m = s[0], n = s[1], k = s[2];
                        int[] aShape = ta ? new int[] {k, m} : new int[] {m, k}, bShape = tb ? new int[] {n, k} : new int[] {k, n};
                        float[] av = TestData.normal(seed++, m * k), bv = TestData.normal(seed++, k * n);
                        float[] cv = TestData.normal(seed++, m * n);
                        String what = "matmul " + Arrays.toString(s) + " ta=" + ta + " tb=" + tb + " " + cpu.describe();
                        checkMatmul(cpu, new Tensor[] {on(REF, av, aShape), on(REF, bv, bShape), on(REF, cv, m, n)},
                                new Tensor[] {on(cpu, av, aShape), on(cpu, bv, bShape), on(cpu, cv, m, n)},
                                ta, tb, 0.75f, 0.5f, what);
                        // Batched: A per batch entry, B shared (2-D); and A shared, B per entry.
                        int batch = 3;
                        float[] ab = TestData.normal(seed++, batch * m * k), bb = TestData.normal(seed++, batch * k * n);
                        int[] aShape3 = {batch, aShape[0], aShape[1]}, bShape3 = {batch, bShape[0], bShape[1]};
                        checkMatmul(cpu, new Tensor[] {on(REF, ab, aShape3), on(REF, bv, bShape), REF.zeros(batch, m, n)},
                                new Tensor[] {on(cpu, ab, aShape3), on(cpu, bv, bShape), cpu.zeros(batch, m, n)},
                                ta, tb, 1f, 0f, what + " batched A");
                        checkMatmul(cpu, new Tensor[] {on(REF, av, aShape), on(REF, bb, bShape3), REF.zeros(batch, m, n)},
                                new Tensor[] {on(cpu, av, aShape), on(cpu, bb, bShape3), cpu.zeros(batch, m, n)},
                                ta, tb, 1f, 0f, what + " batched B");
                    }
    }

    @Test
    void backendMatmulOnColumnSlicesOfWiderMatrices() {
        // The model multiplies column slices, e.g. q, k, v out of one (N, 3C) projection: row stride > columns.
        int m = 50, k = 24, n = 19;
        for (CpuBackend cpu : new CpuBackend[] {CPU1, CPU2})
            for (boolean ta : new boolean[] {false, true})
                for (boolean tb : new boolean[] {false, true}) {
                    int aRows = ta ? k : m, aCols = ta ? m : k, bRows = tb ? n : k, bCols = tb ? k : n;
                    float[] av = TestData.normal(1, aRows * (3 * aCols)), bv = TestData.normal(2, bRows * (bCols + 5));
                    float[] cv = TestData.normal(3, m * (2 * n + 3));
                    Tensor cFull = on(cpu, cv, m, 2 * n + 3);
                    Tensor[] r = {on(REF, av, aRows, 3 * aCols).narrow(1, aCols, aCols),
                            on(REF, bv, bRows, bCols + 5).narrow(1, 5, bCols), on(REF, cv, m, 2 * n + 3).narrow(1, 2, n)};
                    Tensor[] g = {on(cpu, av, aRows, 3 * aCols).narrow(1, aCols, aCols),
                            on(cpu, bv, bRows, bCols + 5).narrow(1, 5, bCols), cFull.narrow(1, 2, n)};
                    checkMatmul(cpu, r, g, ta, tb, 1f, 1f, "column slices ta=" + ta + " tb=" + tb);
                    // The columns of C outside the slice keep their values.
                    float[] after = cFull.toArray();
                    for (int i = 0; i < m; i++)
                        for (int j = 0; j < 2 * n + 3; j++) {
                            int p = i * (2 * n + 3) + j;
                            if ((j < 2 || j >= 2 + n) && after[p] != cv[p]) {
                                throw new AssertionError("column slice: C changed outside the slice at " + i + "," + j);
                            }
                        }
                }
    }

    @Test
    void backendMatmulBetaZeroOverwritesNaN() {
        for (CpuBackend cpu : new CpuBackend[] {CPU1, CPU2}) {
            float[] nan = new float[30 * 40];
            Arrays.fill(nan, Float.NaN);
            float[] av = TestData.normal(5, 30 * 300), bv = TestData.normal(6, 300 * 40);
            checkMatmul(cpu, new Tensor[] {on(REF, av, 30, 300), on(REF, bv, 300, 40), on(REF, nan, 30, 40)},
                    new Tensor[] {on(cpu, av, 30, 300), on(cpu, bv, 300, 40), on(cpu, nan, 30, 40)},
                    false, false, 1f, 0f, "beta=0 over NaN");
        }
    }

    @Test
    void shapeMismatchThrowsNamingMatmul() {
        Tensor a = CPU1.zeros(4, 5), b = CPU1.zeros(6, 3), c = CPU1.zeros(4, 3);
        var e = assertThrows(IllegalArgumentException.class, () -> CPU1.matmul(a, false, b, false, c, 1f, 0f));
        assertTrue(e.getMessage().contains("matmul"), e.getMessage());
        Tensor b2 = CPU1.zeros(5, 3), cWrong = CPU1.zeros(4, 4);
        e = assertThrows(IllegalArgumentException.class, () -> CPU1.matmul(a, false, b2, false, cWrong, 1f, 0f));
        assertTrue(e.getMessage().contains("matmul"), e.getMessage());
        Tensor batched = CPU1.zeros(2, 4, 5);
        e = assertThrows(IllegalArgumentException.class, () -> CPU1.matmul(batched, false, b2, false, c, 1f, 0f));
        assertTrue(e.getMessage().contains("matmul"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> Sgemm.gemm(ONE, false, false, -1, 2, 2, 1f, new float[4], 0, 2, new float[4], 0, 2, 0f, new float[4], 0, 2));
        assertTrue(e.getMessage().contains("gemm"), e.getMessage());
    }

    /**
     * Weights kept in bfloat16 ({@link PackedRight#inBf16}): the product equals the fp32 product with the weights
     * rounded to bfloat16 (round to nearest even), with the bias and GELU epilogue, on one and two threads, over
     * several k-blocks (the slices widened per block) and partial micro-panels.
     */
    @Test
    void bf16WeightsMultiplyAsTheirRoundedFloats() {
        java.util.Random r = new java.util.Random(5);
        int m = 49, k = 300, n = 70;
        float[] a = new float[m * k], w = new float[n * k], bias = new float[n];
        for (int i = 0; i < a.length; i++) a[i] = (float) r.nextGaussian();
        for (int i = 0; i < w.length; i++) w[i] = (float) r.nextGaussian();
        for (int i = 0; i < n; i++) bias[i] = (float) r.nextGaussian();
        float[] rounded = new float[w.length];
        for (int i = 0; i < w.length; i++) rounded[i] = Float.intBitsToFloat(PackedRight.toBf16(w[i]) << 16);
        assertEquals(Float.intBitsToFloat(0x3F800000), Float.intBitsToFloat(PackedRight.toBf16(Float.intBitsToFloat(0x3F808000)) << 16),
                "a tie rounds to even, here downwards");
        assertEquals(Float.intBitsToFloat(0x3F820000), Float.intBitsToFloat(PackedRight.toBf16(Float.intBitsToFloat(0x3F818000)) << 16),
                "a tie rounds to even, upwards");
        PackedRight fp32 = PackedRight.pack(true, k, n, rounded, 0, k), bf16 = PackedRight.pack(true, k, n, w, 0, k).inBf16();
        for (Parallel p : new Parallel[] {ONE, TWO}) {
            for (Sgemm.Blocking blocking : new Sgemm.Blocking[] {Sgemm.DEFAULT, SPLIT_K}) {
                float[] want = new float[m * n], got = new float[m * n];
                Sgemm.gemm(blocking, p, false, m, 1f, a, 0, k, fp32, bias, 0, true, 0f, want, 0, n);
                Sgemm.gemm(blocking, p, false, m, 1f, a, 0, k, bf16, bias, 0, true, 0f, got, 0, n);
                org.junit.jupiter.api.Assertions.assertArrayEquals(want, got, p.threads() + " threads, kc " + blocking.kc());
            }
        }
    }
}
