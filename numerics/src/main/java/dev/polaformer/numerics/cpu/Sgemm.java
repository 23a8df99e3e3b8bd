package dev.polaformer.numerics.cpu;

import static dev.polaformer.numerics.cpu.SgemmMicroKernel.MR;
import static dev.polaformer.numerics.cpu.SgemmMicroKernel.NR;
import static dev.polaformer.numerics.cpu.SgemmMicroKernel.TILE;

/**
 * Single-precision GEMM on arrays: {@code C = alpha·op(A)·op(B) + beta·C}, row-major with leading dimensions.
 * (Design notes to be completed.)
 */
public final class Sgemm {
    private Sgemm() {}

    /**
     * Block sizes. {@link #DEFAULT} is what the library uses; tests pass tiny ones to reach every path (several
     * k-blocks, super-blocks, parallel tasks) with small matrices.
     *
     * @param kc               longest k-block
     * @param mc               most rows of {@code A} one task packs per k-block (rounded to a multiple of {@code MR})
     * @param packedBFloats    most floats of packed {@code B} held at once; longer {@code K} is taken in super-blocks
     * @param accumulatorDoubles most doubles of accumulator held at once; taller {@code M} is taken in super-blocks
     * @param serialFlops      products below this many flops run on the calling thread alone
     */
    record Blocking(int kc, int mc, int packedBFloats, int accumulatorDoubles, long serialFlops) {
        Blocking {
            if (kc < 1 || mc < MR || packedBFloats < 1 || accumulatorDoubles < 1 || serialFlops < 0) {
                throw new IllegalArgumentException("bad blocking " + this);
            }
            mc = mc / MR * MR;
        }
    }

    /** 256 k: the packed {@code B} micro-panel (32 KiB) stays in L1; 144 rows of {@code A} (144 KiB) stay in L2. */
    static final Blocking DEFAULT = new Blocking(256, 144, 1 << 21, 1 << 21, 1 << 21);

    /** Batched products below this many flops per matrix are spread over the batch, not inside each matrix. */
    static final long SMALL_FLOPS = 1 << 24;

    /**
     * @param transA {@code A} is stored {@code (k, m)} and used transposed
     * @param lda    row stride of {@code A} as stored (≥ its column count)
     */
    public static void gemm(Parallel parallel, boolean transA, boolean transB, int m, int n, int k, float alpha,
                            float[] a, int aOff, int lda, float[] b, int bOff, int ldb, float beta,
                            float[] c, int cOff, int ldc) {
        gemm(DEFAULT, parallel, transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
    }

    /** {@link #gemm(Parallel, boolean, boolean, int, int, int, float, float[], int, int, float[], int, int, float, float[], int, int)} with explicit block sizes. */
    static void gemm(Blocking blocking, Parallel parallel, boolean transA, boolean transB, int m, int n, int k,
                     float alpha, float[] a, int aOff, int lda, float[] b, int bOff, int ldb, float beta,
                     float[] c, int cOff, int ldc) {
        if (m < 0 || n < 0 || k < 0) {
            throw new IllegalArgumentException("gemm: negative size m=" + m + ", n=" + n + ", k=" + k);
        }
        if (m == 0 || n == 0) return;
        if (k == 0 || alpha == 0) {
            scale(m, n, beta, c, cOff, ldc);
            return;
        }
        boolean serial = parallel.threads() == 1 || 2L * m * n * k < blocking.serialFlops();
        new Call(blocking, parallel, serial, transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc)
                .run();
    }

    /**
     * {@code batch} independent products; {@code strideA}/{@code strideB}/{@code strideC} step between the
     * matrices of one operand (0 = one matrix shared by all).
     */
    public static void gemmBatched(Parallel parallel, int batch, boolean transA, boolean transB, int m, int n, int k,
                                   float alpha, float[] a, int aOff, int lda, int strideA,
                                   float[] b, int bOff, int ldb, int strideB, float beta,
                                   float[] c, int cOff, int ldc, int strideC) {
        gemmBatched(DEFAULT, parallel, batch, transA, transB, m, n, k, alpha, a, aOff, lda, strideA, b, bOff, ldb,
                strideB, beta, c, cOff, ldc, strideC);
    }

    static void gemmBatched(Blocking blocking, Parallel parallel, int batch, boolean transA, boolean transB,
                            int m, int n, int k, float alpha, float[] a, int aOff, int lda, int strideA,
                            float[] b, int bOff, int ldb, int strideB, float beta,
                            float[] c, int cOff, int ldc, int strideC) {
        if (batch < 0) throw new IllegalArgumentException("gemm: negative batch " + batch);
        if (batch == 0) return;
        if (batch > 1 && strideB == 0 && !transA && (long) strideA == (long) m * lda && (long) strideC == (long) m * ldc
                && (long) m * batch <= Integer.MAX_VALUE) {
            // The matrices of A and C follow each other row after row and share B: one tall product.
            gemm(blocking, parallel, false, transB, m * batch, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
            return;
        }
        long flops = 2L * m * n * k;
        int threads = parallel.threads();
        if (threads > 1 && batch >= threads && (batch >= 4 * threads || flops < SMALL_FLOPS)) {
            // Many or small matrices: each thread takes whole matrices, computed serially.
            parallel.forEach(batch, p -> {
                if (m == 0 || n == 0) return;
                if (k == 0 || alpha == 0) {
                    scale(m, n, beta, c, cOff + p * strideC, ldc);
                    return;
                }
                new Call(blocking, parallel, true, transA, transB, m, n, k, alpha, a, aOff + p * strideA, lda,
                        b, bOff + p * strideB, ldb, beta, c, cOff + p * strideC, ldc).run();
            });
            return;
        }
        for (int p = 0; p < batch; p++) {
            gemm(blocking, parallel, transA, transB, m, n, k, alpha, a, aOff + p * strideA, lda,
                    b, bOff + p * strideB, ldb, beta, c, cOff + p * strideC, ldc);
        }
    }

    /** {@code C = beta·C}, where {@code beta == 0} writes zeros whatever {@code C} held. */
    private static void scale(int m, int n, float beta, float[] c, int cOff, int ldc) {
        for (int i = 0; i < m; i++) {
            int ci = cOff + i * ldc;
            if (beta == 0) {
                java.util.Arrays.fill(c, ci, ci + n, 0f);
            } else if (beta != 1) {
                for (int j = 0; j < n; j++) c[ci + j] *= beta;
            }
        }
    }

    /** One product: its operands, how it is cut into blocks and tasks, and the loops that run them. */
    private static final class Call {
        private final Blocking blocking;
        private final Parallel parallel;
        private final boolean serial, transA, transB;
        private final int m, n, k;
        private final float alpha, beta;
        private final float[] a, b, c;
        private final int aOff, lda, bOff, ldb, cOff, ldc;

        /** Number of k-blocks; block {@code t} is {@code [kStart(t), kStart(t + 1))}. */
        private final int kBlocks;
        /** {@code B} micro-panels across {@code n}. */
        private final int panelsN;
        /** k-blocks whose packed {@code B} is held at once. */
        private final int kBlocksPerSuper;
        /** Rows of {@code C} per M super-block (a multiple of {@code MR}): all of {@code m} unless accumulating. */
        private final int rowsPerSuper;

        // The current super-block, set before its tasks run (the forEach that runs them publishes it).
        private int kb0, kb1, ks0, ksLen, ms0, ms1;
        private int rowTasks, colTasks, superPanelsM;
        private float[] packedB;
        private double[] acc;

        Call(Blocking blocking, Parallel parallel, boolean serial, boolean transA, boolean transB, int m, int n, int k, float alpha,
             float[] a, int aOff, int lda, float[] b, int bOff, int ldb, float beta, float[] c, int cOff, int ldc) {
            this.blocking = blocking;
            this.parallel = parallel;
            this.serial = serial;
            this.transA = transA;
            this.transB = transB;
            this.m = m;
            this.n = n;
            this.k = k;
            this.alpha = alpha;
            this.beta = beta;
            this.a = a;
            this.aOff = aOff;
            this.lda = lda;
            this.b = b;
            this.bOff = bOff;
            this.ldb = ldb;
            this.c = c;
            this.cOff = cOff;
            this.ldc = ldc;
            int kc = blocking.kc();
            this.kBlocks = (k + kc - 1) / kc;
            this.panelsN = (n + NR - 1) / NR;
            this.kBlocksPerSuper = (int) Math.max(1, blocking.packedBFloats() / ((long) panelsN * NR * kc));
            int panelsPerSuper = kBlocks == 1 ? Integer.MAX_VALUE / MR
                    : (int) Math.max(1, blocking.accumulatorDoubles() / ((long) panelsN * TILE));
            this.rowsPerSuper = (int) Math.min(m, (long) panelsPerSuper * MR);
        }

        private int kStart(int block) {
            return (int) ((long) block * k / kBlocks);
        }

        void run() {
            SgemmWorkspace ws = SgemmWorkspace.get();
            for (ms0 = 0; ms0 < m; ms0 += rowsPerSuper) {
                ms1 = Math.min(m, ms0 + rowsPerSuper);
                planTasks();
                if (kBlocks > 1) acc = ws.accumulator(superPanelsM * panelsN * TILE);
                for (kb0 = 0; kb0 < kBlocks; kb0 = kb1) {
                    kb1 = Math.min(kBlocks, kb0 + kBlocksPerSuper);
                    ks0 = kStart(kb0);
                    ksLen = kStart(kb1) - ks0;
                    packedB = ws.packedB(panelsN * NR * ksLen);
                    forEach(panelsN, this::packPanelB);
                    forEach(rowTasks * colTasks, this::runTask);
                }
            }
        }

        private void forEach(int count, java.util.function.IntConsumer body) {
            if (serial) {
                for (int i = 0; i < count; i++) body.accept(i);
            } else {
                parallel.forEach(count, body);
            }
        }

        /** Cuts the current M super-block into tasks: row ranges of at most {@code MC}, and column ranges. */
        private void planTasks() {
            superPanelsM = (ms1 - ms0 + MR - 1) / MR;
            int mcPanels = blocking.mc() / MR;
            rowTasks = (superPanelsM + mcPanels - 1) / mcPanels;
            colTasks = 1;
            if (!serial) {
                int threads = parallel.threads();
                if (rowTasks >= 2 * threads) {
                    // Enough rows: a multiple of the thread count, so that no thread is left with one more task.
                    rowTasks = Math.min(superPanelsM, (rowTasks + threads - 1) / threads * threads);
                } else {
                    colTasks = Math.min(panelsN, (2 * threads + rowTasks - 1) / rowTasks);
                }
            }
        }

        private void packPanelB(int q) {
            SgemmPacking.packB(transB, b, bOff, ldb, n, q * NR, ks0, ksLen, packedB, q * ksLen * NR);
        }

        private void runTask(int task) {
            int rt = task / colTasks, ct = task % colTasks;
            int pr0 = (int) ((long) rt * superPanelsM / rowTasks), pr1 = (int) ((long) (rt + 1) * superPanelsM / rowTasks);
            int q0 = (int) ((long) ct * panelsN / colTasks), q1 = (int) ((long) (ct + 1) * panelsN / colTasks);
            int i0 = ms0 + pr0 * MR, rows = Math.min(ms1, ms0 + pr1 * MR) - i0;
            SgemmWorkspace ws = SgemmWorkspace.get();
            float[] tile = ws.tile;
            float[] packedA = ws.packedA((pr1 - pr0) * MR * blocking.kc() + SgemmPacking.SLACK);
            for (int kb = kb0; kb < kb1; kb++) {
                int p0 = kStart(kb), kc = kStart(kb + 1) - p0;
                boolean first = kb == 0, last = kb == kBlocks - 1;
                SgemmPacking.packA(transA, a, aOff, lda, m, i0, rows, p0, kc, packedA);
                for (int q = q0; q < q1; q++) {
                    int j = q * NR, cols = Math.min(NR, n - j);
                    int bo = q * ksLen * NR + (p0 - ks0) * NR;
                    for (int ir = 0; ir < rows; ir += MR) {
                        SgemmMicroKernel.multiply(kc, packedA, ir * kc, packedB, bo, tile);
                        int i = i0 + ir, tileRows = Math.min(MR, m - i), ct0 = cOff + i * ldc + j;
                        if (kBlocks == 1) {
                            SgemmWriteBack.toC(tile, tileRows, cols, alpha, beta, c, ct0, ldc);
                        } else {
                            int ao = (((i - ms0) / MR) * panelsN + q) * TILE;
                            if (last) {
                                SgemmWriteBack.finish(tile, acc, ao, tileRows, cols, alpha, beta, c, ct0, ldc);
                            } else {
                                SgemmWriteBack.accumulate(tile, first, acc, ao);
                            }
                        }
                    }
                }
            }
        }
    }
}
