package dev.polaformer.numerics.cpu;

import java.util.Arrays;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.IntConsumer;

import static dev.polaformer.numerics.cpu.SgemmMicroKernel.MR;
import static dev.polaformer.numerics.cpu.SgemmMicroKernel.NR;
import static dev.polaformer.numerics.cpu.SgemmMicroKernel.TILE;

/**
 * Single-precision GEMM on arrays: {@code C = alpha·op(A)·op(B) + beta·C}, row-major, each operand at an offset
 * with its own leading dimension (row stride), so column slices of wider matrices need no copy. {@code op(X)}
 * is {@code X} or {@code Xᵀ}; {@code beta == 0} overwrites {@code C} without reading it (NaN in {@code C} does
 * not leak through).
 *
 * <h2>Design (Goto/BLIS)</h2>
 *
 * The loops, outermost first; {@code MR × NR = 12 × 2·L} is the register tile ({@code L} = floats per vector,
 * {@link Simd#L}), {@code KC = 256}, {@code MC = 144}:
 * <pre>
 *   for each N super-block                       (only for n &gt; 8192: one k-block of packed B ≤ 8 MiB)
 *     for each M super-block                     (only with several k-blocks: the double accumulator ≤ 16 MiB)
 *       for each K super-block                   (packed B ≤ 8 MiB; usually all of K)
 *         pack op(B)[that K range, those n]      in micro-panels of NR columns, in parallel, shared by all threads
 *         parallel over tasks (≤ MC rows × a range of B micro-panels × a range of k-blocks), handed out dynamically:
 *           for each k-block (≤ KC):
 *             pack op(A)[task rows, k-block]     in micro-panels of MR rows, into this thread's buffer
 *             for each B micro-panel             (KC × NR floats: 32 KiB, stays in L1)
 *               for each A micro-panel           (MR × KC floats: 12 KiB, streams from L2)
 *                 MR × NR tile in 24 registers   ({@link SgemmMicroKernel}), then written back
 * </pre>
 *
 * <p><b>Register tile.</b> {@code 12 × 2} vectors: 24 accumulators + 2 vectors of {@code B} + 1 broadcast of
 * {@code A} = 27 of AVX-512's 32 registers, nothing spills, and 24 independent FMA chains cover the FMA latency
 * of two pipes. Per step of {@code k} it issues 24 FMAs against 2 vector loads and 12 broadcasts, so the loads
 * never limit it. Measured alone (packed operands in cache) it runs at 250 GFLOP/s on one core of the
 * development machine (AMD EPYC, CPU family 26 = Zen 5, full-width 512-bit FMAs), as fast as a C loop of
 * independent AVX-512 FMAs there (251 GFLOP/s): the core's peak. {@code 6 × 4}, {@code 8 × 3} and
 * {@code 4 × 4} measured the same; {@code 12 × 2} is chosen because {@code NR = 32} divides the model's widths
 * (224, 256, 512, head dimension 32), where {@code NR = 64} would leave N = 224 with a half-empty last tile.
 *
 * <p><b>Blocks.</b> {@code KC = 256} keeps one packed {@code B} micro-panel (32 KiB) in the 48 KiB L1 while 12
 * A micro-panels stream past it; {@code MC = 144} rows of packed {@code A} (144 KiB) stay in the 1 MiB L2 for
 * all the B micro-panels of a task. {@code B} is packed once per call (per K super-block) and read by all
 * threads, so its packing cost ({@code K·N} copies for {@code 2·M·N·K} flops) vanishes for the tall products of
 * the model; {@code A} is packed by each task for its own rows.
 *
 * <p><b>Threads.</b> Tasks are row ranges of at most {@code MC} rows (whole A micro-panels), their count
 * rounded up to a multiple of the thread count so no thread is left with one extra task at the end. A product
 * with too few rows for that is also cut along {@code K} when it has at least two k-blocks per thread (a weight
 * gradient: few output rows, thousands of tokens), each range of k-blocks summing into its own double
 * accumulator and a last parallel pass adding them into {@code C}; otherwise along {@code n} into ranges of
 * B micro-panels (cutting {@code K} packs each row of {@code A} once, cutting {@code n} once per range).
 * {@link Parallel#forEach} hands the tasks out through an atomic counter, so a thread slowed by other work on the
 * machine simply takes fewer. Each element of {@code C} belongs to exactly one task (or to the final pass) and
 * is written exactly once; two threads can meet only in the cache lines at the ends of their rows. Products
 * under 2 MFLOP run on the calling thread.
 *
 * <p><b>Batches</b> ({@link #gemmBatched}). Matrices of {@code A} and {@code C} that follow each other row after
 * row and share one {@code B} (a linear layer on {@code (B, N, C)} tokens) become one tall product. Otherwise,
 * when there are at least as many matrices as threads and they are small (under 16 MFLOP, e.g. attention per
 * head, 196×32·32×196) or many (≥ 4 per thread), each thread computes whole matrices on its own; large matrices
 * are multiplied one after the other, each in parallel.
 *
 * <p><b>Edges.</b> Packing pads partial micro-panels with zeros, so the kernel always computes whole tiles.
 * A whole tile of a one-block product with {@code beta = 0} goes from the registers straight into {@code C};
 * any other tile lands in a small buffer and {@link SgemmWriteBack} applies {@code alpha}, {@code beta}, the
 * edge (vector masks) and the double accumulation. Sizes down to 1 and any leading dimension work.
 *
 * <h2>Precision</h2>
 *
 * Within a k-block (≤ 256 terms) the sum is float, one FMA per term. Across k-blocks it is double: each block's
 * float result is added to a double accumulator, and the last block writes {@code alpha·sum + beta·C} computed
 * in double and rounded once. The float part's error is that of a 256-term sum; the double part adds nothing
 * measurable; so the error relative to the spread of the result does not grow with {@code K} (for
 * {@code K = 50,000}, as in weight gradients over all tokens, it stays at the level of a 256-term product, 13×
 * below a plain float loop: see {@code SgemmTest}). The accumulator is at most 16 MiB, hence the M super-blocks.
 *
 * <h2>Compilation</h2>
 *
 * The species is {@link Simd#F}, a constant, so C2 emits SIMD instructions; no {@code FloatVector} crosses a
 * method boundary; the kernel's k-loop has no calls. Until C2 has compiled the kernel the Vector API runs
 * interpreted, hundreds of times slower (the first 25088×256×64 product of a fresh JVM took 2.1 s):
 * {@link #warmUp()} gets it compiled on small products in about 0.6 s, and the {@code cpu} backend starts it on
 * a background thread when it is created ({@link #warmUpInBackground()}), after which the same first product
 * took 0.64 s if issued at once and 8 ms if issued 0.7 s later.
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

    /** {@code KC = 256}, {@code MC = 144}, 8 MiB of packed {@code B}, 16 MiB of accumulator, serial under 2 MFLOP. */
    static final Blocking DEFAULT = new Blocking(256, 144, 1 << 21, 1 << 21, 1 << 21);

    /** Batched products below this many flops per matrix are spread over the batch, not inside each matrix. */
    static final long SMALL_FLOPS = 1 << 24;

    /**
     * {@code C = alpha·op(A)·op(B) + beta·C}, {@code C} being {@code m × n} and the sum running over {@code k}.
     * Safe to call from several threads at once, sharing one {@code parallel}.
     *
     * @param transA {@code A} is stored {@code (k, m)} and used transposed, else stored {@code (m, k)}
     * @param transB {@code B} is stored {@code (n, k)} and used transposed, else stored {@code (k, n)}
     * @param lda    row stride of {@code A} as stored (≥ its column count)
     * @param ldb    row stride of {@code B} as stored
     * @param ldc    row stride of {@code C}
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
            parallel.forEachHere(1, i -> scale(m, n, beta, c, cOff, ldc));
            return;
        }
        boolean serial = parallel.threads() == 1 || 2L * m * n * k < blocking.serialFlops();
        Call.of(blocking, parallel, serial, transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc,
                false).run();
    }

    /**
     * {@code C = alpha·op(A)·B + beta·C} with {@code B} packed beforehand ({@link PackedRight}): a constant
     * weight, packed once instead of on every call. For the skinny products of inference at batch 1 (49 rows
     * against a 384 × 1536 weight) packing {@code B} cost as much as the arithmetic.
     */
    public static void gemm(Parallel parallel, boolean transA, int m, float alpha, float[] a, int aOff, int lda,
                            PackedRight b, float beta, float[] c, int cOff, int ldc) {
        gemm(DEFAULT, parallel, transA, m, alpha, a, aOff, lda, b, null, 0, false, beta, c, cOff, ldc);
    }

    /**
     * As {@link #gemm(Parallel, boolean, int, float, float[], int, int, PackedRight, float, float[], int, int)},
     * then {@code C[i][j] += bias[biasOff + j]} on each tile as it is finished, while it is in cache: a linear
     * layer's bias without a pass of its own over the output (rounded as the separate add would be).
     */
    public static void gemm(Parallel parallel, boolean transA, int m, float alpha, float[] a, int aOff, int lda,
                            PackedRight b, float[] bias, int biasOff, float beta, float[] c, int cOff, int ldc) {
        gemm(DEFAULT, parallel, transA, m, alpha, a, aOff, lda, b, bias, biasOff, false, beta, c, cOff, ldc);
    }

    /** As the bias form, then (with {@code gelu}) {@code C = gelu(C)} on each finished tile, after its bias. */
    public static void gemm(Parallel parallel, boolean transA, int m, float alpha, float[] a, int aOff, int lda,
                            PackedRight b, float[] bias, int biasOff, boolean gelu, float beta, float[] c, int cOff,
                            int ldc) {
        gemm(DEFAULT, parallel, transA, m, alpha, a, aOff, lda, b, bias, biasOff, gelu, beta, c, cOff, ldc);
    }

    static void gemm(Blocking blocking, Parallel parallel, boolean transA, int m, float alpha, float[] a, int aOff,
                     int lda, PackedRight b, float[] bias, int biasOff, boolean gelu, float beta, float[] c, int cOff,
                     int ldc) {
        if (m < 0) throw new IllegalArgumentException("gemm: negative size m=" + m);
        int n = b.n(), k = b.k();
        if (m == 0 || n == 0) return;
        if (k == 0 || alpha == 0) {
            parallel.forEachHere(1, i -> {
                scale(m, n, beta, c, cOff, ldc);
                finishTile(bias, biasOff, gelu, c, cOff, ldc, m, n);
            });
            return;
        }
        boolean serial = parallel.threads() == 1 || 2L * m * n * k < blocking.serialFlops();
        Call call = Call.of(blocking, parallel, serial, transA, false, m, n, k, alpha, a, aOff, lda, b.panels(), 0, 0,
                beta, c, cOff, ldc, true);
        call.bias = bias;
        call.biasOff = biasOff;
        call.gelu = gelu;
        call.bf16 = b.bf16();
        call.run();
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
        if (batch < 0 || m < 0 || n < 0 || k < 0) {
            throw new IllegalArgumentException("gemm: negative size batch=" + batch + ", m=" + m + ", n=" + n + ", k=" + k);
        }
        if (batch == 0) return;
        if (batch > 1 && strideB == 0 && !transA && (long) strideA == (long) m * lda && (long) strideC == (long) m * ldc
                && (long) m * batch <= Integer.MAX_VALUE) {
            // The matrices of A and C follow each other row after row and share B: one tall product.
            gemm(blocking, parallel, false, transB, m * batch, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
            return;
        }
        long flops = 2L * m * n * k;
        int threads = parallel.threads();
        if (flops > 0 && alpha != 0 && threads > 1 && batch >= threads && (batch >= 4 * threads || flops < SMALL_FLOPS)) {
            // Many or small matrices: each thread takes whole matrices, computed serially.
            parallel.forEach(batch, p -> Call.of(blocking, parallel, true, transA, transB, m, n, k, alpha,
                    a, aOff + p * strideA, lda, b, bOff + p * strideB, ldb, beta, c, cOff + p * strideC, ldc, false).run());
            return;
        }
        for (int p = 0; p < batch; p++) {
            gemm(blocking, parallel, transA, transB, m, n, k, alpha, a, aOff + p * strideA, lda,
                    b, bOff + p * strideB, ldb, beta, c, cOff + p * strideC, ldc);
        }
    }

    /**
     * Runs small products through every path of the kernel (both packings of each operand, whole and edge
     * tiles, one and several k-blocks) until C2 has compiled them, on the calling thread. Until then the
     * Vector API runs interpreted, hundreds of times slower: without a warm-up the first large product of a
     * fresh JVM takes seconds. Call it once when a backend starts (costs well under a second).
     */
    public static void warmUp() {
        int m = 2 * MR + 5, n = 2 * NR + 3, k = DEFAULT.kc() + 9;
        float[] a = new float[m * k], b = new float[k * n], c = new float[m * n];
        Arrays.fill(a, 0.5f);
        Arrays.fill(b, 0.25f);
        Parallel serial = new Parallel(1);
        for (int round = 0; round < 400; round++) {
            boolean ta = (round & 1) != 0, tb = (round & 2) != 0;
            int kk = (round & 4) != 0 ? k : 64;
            gemm(serial, ta, tb, m, n, kk, 1f, a, 0, ta ? m : kk, b, 0, tb ? kk : n, round % 3 == 0 ? 0.5f : 0f, c, 0, n);
        }
    }

    private static final AtomicBoolean WARMING = new AtomicBoolean();

    /**
     * Starts {@link #warmUp()} on a daemon thread, the first time it is called in this JVM; later calls do
     * nothing. The backend calls it when it is created, so that the compiler is done (or nearly) by the time the
     * first real product arrives, without making the caller wait.
     */
    public static void warmUpInBackground() {
        if (!WARMING.compareAndSet(false, true)) return;
        Thread t = new Thread(Sgemm::warmUp, "polaformer-sgemm-warm-up");
        t.setDaemon(true);
        t.setPriority(Thread.MIN_PRIORITY);
        t.start();
    }

    /** The epilogue of a finished block of {@code C}: its bias, then GELU, each as optional. */
    private static void finishTile(float[] bias, int biasOff, boolean gelu, float[] c, int cOff, int ldc, int rows,
                                   int cols) {
        if (bias != null) SgemmWriteBack.addBias(c, cOff, ldc, rows, cols, bias, biasOff);
        if (gelu) {
            for (int r = 0; r < rows; r++) GeluKernels.gelu(c, cOff + r * ldc, null, 0, c, cOff + r * ldc, cols);
        }
    }

    /** {@code C = beta·C}, where {@code beta == 0} writes zeros whatever {@code C} held. */
    private static void scale(int m, int n, float beta, float[] c, int cOff, int ldc) {
        for (int i = 0; i < m; i++) {
            int ci = cOff + i * ldc;
            if (beta == 0) {
                Arrays.fill(c, ci, ci + n, 0f);
            } else if (beta != 1) {
                for (int j = 0; j < n; j++) c[ci + j] *= beta;
            }
        }
    }

    /** One product: its operands, how it is cut into blocks and tasks, and the loops that run them. */
    private static final class Call implements Cloneable {
        private Blocking blocking;
        private Parallel parallel;
        private boolean serial, transA, transB;
        /** {@code b} already holds all of {@code B} in micro-panels over the whole of {@code K} ({@link PackedRight}). */
        private boolean prepacked;
        /** Added to each row of {@code C} as its tiles are finished; null for none. */
        private float[] bias;
        private int biasOff;
        /** Whether finished tiles go through GELU (after the bias). */
        private boolean gelu;
        /** The prepacked panels in bfloat16 ({@link PackedRight#inBf16}), or null: each slice is widened before use. */
        private short[] bf16;
        private int m, n, k;
        private float alpha, beta;
        private float[] a, b, c;
        private int aOff, lda, bOff, ldb, cOff, ldc;

        /** Number of k-blocks; block {@code t} is {@code [kStart(t), kStart(t + 1))}. */
        private int kBlocks;
        /** {@code B} micro-panels across {@code n}. */
        private int panelsN;
        /** {@code B} micro-panels per N super-block: all of them unless one k-block of them overflows the budget. */
        private int panelsPerColumnSuper;
        /** k-blocks whose packed {@code B} is held at once. */
        private int kBlocksPerSuper;
        /** Rows of {@code C} per M super-block (a multiple of {@code MR}): all of {@code m} unless accumulating. */
        private int rowsPerSuper;

        // The current super-blocks and their tasks, set before the tasks run (the forEach publishes them).
        private int qs0, qs1, ms0, ms1, kb0, kb1, ks0, ksLen;
        private int superPanelsM, superPanelsN, rowTasks, colTasks, kParts, partSize;
        private float[] packedB;
        private double[] acc;

        /**
         * One per thread, set up for each product and emptied after it: a new one per product was a tenth of a
         * b0 forward's heap allocation. A product never starts another on its own thread, so one suffices.
         */
        private static final ThreadLocal<Call> REUSED = ThreadLocal.withInitial(Call::new);

        private Call() {}

        static Call of(Blocking blocking, Parallel parallel, boolean serial, boolean transA, boolean transB, int m,
                       int n, int k, float alpha, float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                       float beta, float[] c, int cOff, int ldc, boolean prepacked) {
            return REUSED.get().set(blocking, parallel, serial, transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff,
                    ldb, beta, c, cOff, ldc, prepacked);
        }

        private Call set(Blocking blocking, Parallel parallel, boolean serial, boolean transA, boolean transB, int m,
                         int n, int k, float alpha, float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                         float beta, float[] c, int cOff, int ldc, boolean prepacked) {
            this.bias = null;
            this.biasOff = 0;
            this.gelu = false;
            this.bf16 = null;
            this.blocking = blocking;
            this.prepacked = prepacked;
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
            // Packed beforehand, B is one super-block whatever its size.
            this.panelsPerColumnSuper = prepacked ? panelsN
                    : (int) Math.min(panelsN, Math.max(1, blocking.packedBFloats() / ((long) NR * kc)));
            this.kBlocksPerSuper = prepacked ? kBlocks
                    : (int) Math.max(1, blocking.packedBFloats() / ((long) panelsPerColumnSuper * NR * kc));
            int panelsPerSuper = kBlocks == 1 ? Integer.MAX_VALUE / MR
                    : (int) Math.max(1, blocking.accumulatorDoubles() / ((long) panelsPerColumnSuper * TILE));
            this.rowsPerSuper = (int) Math.min(m, (long) panelsPerSuper * MR);
            return this;
        }

        private int kStart(int block) {
            return (int) ((long) block * k / kBlocks);
        }

        void run() {
            try {
                runSuperBlocks();
            } finally {  // the reused call must not keep the caller's arrays reachable
                a = b = c = bias = packedB = null;
                bf16 = null;
                acc = null;
            }
        }

        private void runSuperBlocks() {
            // A recorded product (Parallel.record) runs its loops again later: each loop then gets a copy of this
            // call as it is now, and the recording's working arrays instead of the calling thread's workspace.
            boolean recorded = parallel.recordsHere();
            SgemmWorkspace ws = recorded ? parallel.recordingWorkspace() : SgemmWorkspace.get();
            for (qs0 = 0; qs0 < panelsN; qs0 = qs1) {
                qs1 = Math.min(panelsN, qs0 + panelsPerColumnSuper);
                for (ms0 = 0; ms0 < m; ms0 = ms1) {
                    ms1 = Math.min(m, ms0 + rowsPerSuper);
                    planTasks();
                    if (kBlocks > 1) acc = ws.accumulator(kParts * partSize);
                    for (kb0 = 0; kb0 < kBlocks; kb0 = kb1) {
                        kb1 = Math.min(kBlocks, kb0 + kBlocksPerSuper);
                        ks0 = kStart(kb0);
                        ksLen = kStart(kb1) - ks0;
                        if (prepacked) {
                            packedB = b;
                        } else {
                            packedB = ws.packedB(superPanelsN * NR * ksLen);
                            forEach(superPanelsN, asNow(recorded)::packPanelB);
                        }
                        forEach(kParts * rowTasks * colTasks, asNow(recorded)::runTask);
                    }
                    if (kParts > 1) forEach(superPanelsN, asNow(recorded)::sumParts);
                }
            }
        }

        /** The state a loop reads: this call, or for a recorded loop a copy of it as it is now. */
        private Call asNow(boolean recorded) {
            if (!recorded) return this;
            try {
                return (Call) clone();
            } catch (CloneNotSupportedException e) {
                throw new AssertionError(e);
            }
        }

        private void forEach(int count, IntConsumer body) {
            if (serial) {
                parallel.forEachHere(count, body);
            } else {
                parallel.forEach(count, body);
            }
        }

        /**
         * Cuts the current super-block into tasks: row ranges of at most {@code MC} rows; when that gives too few
         * for the threads, also ranges of k-blocks (a long {@code K}, as in weight gradients: each range sums into
         * its own accumulator, added up at the end) or else ranges of B micro-panels.
         */
        private void planTasks() {
            superPanelsM = (ms1 - ms0 + MR - 1) / MR;
            superPanelsN = qs1 - qs0;
            partSize = superPanelsM * superPanelsN * TILE;
            int mcPanels = blocking.mc() / MR;
            rowTasks = (superPanelsM + mcPanels - 1) / mcPanels;
            colTasks = 1;
            kParts = 1;
            if (serial) return;
            int threads = parallel.threads();
            if (rowTasks >= 2 * threads) {
                // Enough rows: a multiple of the thread count, so that no thread is left with one more task.
                rowTasks = Math.min(superPanelsM, (rowTasks + threads - 1) / threads * threads);
                return;
            }
            int wanted = (2 * threads + rowTasks - 1) / rowTasks;
            boolean oneKSuper = kBlocksPerSuper >= kBlocks;
            if (oneKSuper && kBlocks >= 2 * threads && (long) wanted * partSize <= blocking.accumulatorDoubles()) {
                // Split K rather than the columns: each task packs its rows of A once for all n, not once per
                // column range (with a narrow n that packing would cost as much as a third of the flops).
                kParts = Math.min(kBlocks, wanted);
            } else {
                colTasks = Math.min(superPanelsN, wanted);
            }
        }

        private void packPanelB(int q) {
            SgemmPacking.packB(transB, b, bOff, ldb, n, (qs0 + q) * NR, ks0, ksLen, packedB, q * ksLen * NR);
        }

        private void runTask(int task) {
            int part = task / (rowTasks * colTasks), rt = task % (rowTasks * colTasks) / colTasks, ct = task % colTasks;
            int pr0 = (int) ((long) rt * superPanelsM / rowTasks), pr1 = (int) ((long) (rt + 1) * superPanelsM / rowTasks);
            int q0 = qs0 + (int) ((long) ct * superPanelsN / colTasks);
            int q1 = qs0 + (int) ((long) (ct + 1) * superPanelsN / colTasks);
            int i0 = ms0 + pr0 * MR, rows = Math.min(ms1, ms0 + pr1 * MR) - i0;
            // With k-parts, this task's k-blocks and its own accumulator; otherwise those of the super-block.
            int firstBlock = kParts == 1 ? 0 : (int) ((long) part * kBlocks / kParts);
            int blockFrom = kParts == 1 ? kb0 : firstBlock;
            int blockTo = kParts == 1 ? kb1 : (int) ((long) (part + 1) * kBlocks / kParts);
            int accBase = part * partSize;
            SgemmWorkspace ws = SgemmWorkspace.get();
            float[] tile = ws.tile;
            float[] packedA = ws.packedA((pr1 - pr0) * MR * blocking.kc() + SgemmPacking.SLACK);
            for (int kb = blockFrom; kb < blockTo; kb++) {
                int p0 = kStart(kb), kc = kStart(kb + 1) - p0;
                boolean first = kb == firstBlock, last = kParts == 1 && kb == kBlocks - 1;
                SgemmPacking.packA(transA, a, aOff, lda, m, i0, rows, p0, kc, packedA);
                for (int q = q0; q < q1; q++) {
                    int j = q * NR, cols = Math.min(NR, n - j);
                    int bo = (q - qs0) * ksLen * NR + (p0 - ks0) * NR;
                    float[] panelB = packedB;
                    if (bf16 != null) {  // this slice of the micro-panel, widened into L1 for all the task's rows
                        panelB = ws.widenedB(kc * NR);
                        PackedRight.widen(bf16, bo, panelB, 0, kc * NR);
                        bo = 0;
                    }
                    for (int ir = 0; ir < rows; ir += MR) {
                        int i = i0 + ir, tileRows = Math.min(MR, m - i), ct0 = cOff + i * ldc + j;
                        if (kBlocks == 1 && beta == 0 && tileRows == MR && cols == NR) {
                            // The common case, a whole tile of a one-block product: straight from registers to C.
                            SgemmMicroKernel.multiply(kc, packedA, ir * kc, panelB, bo, alpha, c, ct0, ldc);
                            if (bias != null || gelu) finishTile(bias, biasOff + j, gelu, c, ct0, ldc, MR, NR);
                            continue;
                        }
                        SgemmMicroKernel.multiply(kc, packedA, ir * kc, panelB, bo, 1f, tile, 0, NR);
                        if (kBlocks == 1) {
                            SgemmWriteBack.toC(tile, tileRows, cols, alpha, beta, c, ct0, ldc);
                            if (bias != null || gelu) finishTile(bias, biasOff + j, gelu, c, ct0, ldc, tileRows, cols);
                        } else {
                            int ao = accBase + accumulatorTile(q, i);
                            if (last) {
                                SgemmWriteBack.finish(tile, acc, ao, tileRows, cols, alpha, beta, c, ct0, ldc);
                                if (bias != null || gelu) finishTile(bias, biasOff + j, gelu, c, ct0, ldc, tileRows, cols);
                            } else {
                                SgemmWriteBack.accumulate(tile, first, acc, ao);
                            }
                        }
                    }
                }
            }
        }

        /** Where the tile at B micro-panel {@code q} and row {@code i} accumulates: column of tiles by column of
         * tiles, so a task's loop over its rows walks its accumulator sequentially. */
        private int accumulatorTile(int q, int i) {
            return ((q - qs0) * superPanelsM + (i - ms0) / MR) * TILE;
        }

        /** After k-parts: one column of tiles of {@code C} = alpha·(sum of the parts' accumulators) + beta·C. */
        private void sumParts(int column) {
            int q = qs0 + column, j = q * NR, cols = Math.min(NR, n - j);
            for (int i = ms0; i < ms1; i += MR) {
                SgemmWriteBack.finishParts(acc, accumulatorTile(q, i), kParts, partSize, Math.min(MR, m - i), cols,
                        alpha, beta, c, cOff + i * ldc + j, ldc);
                if (bias != null || gelu) {
                    finishTile(bias, biasOff + j, gelu, c, cOff + i * ldc + j, ldc, Math.min(MR, m - i), cols);
                }
            }
        }
    }
}
