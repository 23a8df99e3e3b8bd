package dev.polaformer.cuda;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.List;
import java.util.function.LongFunction;

/**
 * One typed method per kernel of {@code native/src/main/cuda/*.cu}: each computes the launch geometry and passes
 * its arguments to the {@link KernelLauncher} in the order of the kernel's C parameters (a CPU test,
 * {@code CudaKernelsSignatureTest}, parses the {@code .cu} files and fails on any drift).
 *
 * <p>Conventions, the same as {@link dev.polaformer.numerics.Backend}'s:
 * <ul>
 *   <li>Device pointers are {@link MemorySegment}s holding the device address; {@code MemorySegment.NULL} is a
 *       null pointer, allowed only where a parameter says "nullable". Pointers are to {@code float} unless the
 *       javadoc says {@code double}.</li>
 *   <li>Tensors are channels-last and contiguous unless a row stride is passed. Attention operands
 *       {@code (B, N, C)} may be column slices (of {@code qkvg (B, N, 4C)}): they take a <em>row stride</em>
 *       (floats between consecutive tokens) and their batch stride is {@code N · rowStride}; a tensor whose
 *       batch stride differs must be copied first.</li>
 *   <li>Gradients of inputs are overwritten, gradients of parameters ({@code dWeight}, {@code dGamma},
 *       {@code dBeta}, {@code ds1}, ...) are accumulated, exactly as the CPU backends do.</li>
 *   <li>Long reductions accumulate in double (or in float blocks summed in double) in a fixed order; no kernel
 *       uses float atomics, so every result is bit-for-bit repeatable.</li>
 *   <li>A call with no work (a zero size) launches nothing: CUDA rejects an empty grid.</li>
 * </ul>
 * Thread-safe: it holds no state besides the launcher and the source of scratch memory.
 *
 * <h2>The kernel module</h2>
 * All kernels are one module. The {@code native} jar carries it as {@link #FATBIN_RESOURCE} (sm_80 and sm_90
 * SASS, compute_90 PTX; only when nvcc was present at build time) and as sources under
 * {@link #SOURCE_RESOURCE_DIR}. Where no image fits the device, NVRTC compiles {@link #MAIN_SOURCE} with every
 * file of {@link #HEADER_SOURCES} passed as a header under its own name, options {@code --std=c++17
 * --gpu-architecture=sm_XY}; NVRTC opens {@code libnvrtc-builtins.so.13.*} by soname, so that library must be
 * loaded (by absolute path) before the first compile unless it is on the loader's path.
 */
public final class CudaKernels {
    /** The prebuilt image, a class-path resource of the {@code native} jar. */
    public static final String FATBIN_RESOURCE = "dev/polaformer/cuda/polaformer_kernels.fatbin";
    /** Where the kernel sources are, as class-path resources. */
    public static final String SOURCE_RESOURCE_DIR = "dev/polaformer/cuda/kernels/";
    /** The translation unit that includes every kernel family. */
    public static final String MAIN_SOURCE = "polaformer_kernels.cu";
    /** The files {@link #MAIN_SOURCE} includes, to pass to NVRTC as headers under these names. */
    public static final List<String> HEADER_SOURCES = List.of("pf_common.cuh", "pointwise.cu", "norm.cu",
            "depthwise.cu", "optimizer.cu", "attention_linear.cu", "attention_softmax.cu");

    /** Threads per block of the one-dimensional (elementwise) kernels. */
    static final int BLOCK = 256;
    /** Elementwise grids are capped here; the kernels loop with a grid stride beyond it. */
    static final int MAX_GRID = 1 << 16;
    /** Column reductions: 32 columns (one warp, coalesced) by this many row groups per block. */
    static final int ROW_GROUPS = 8;
    /** Blocks stage 1 of a two-stage column reduction aims at: about 4 per SM of an H100 (132 SMs). */
    static final int REDUCTION_BLOCKS = 4 * 132;
    /** Rows a chunk of a two-stage column reduction gets at least (fewer cost more in partials than they gain). */
    static final int MIN_CHUNK_ROWS = 256;
    /** Rows (one warp each) per block of the LayerNorm kernels. */
    static final int ROWS_PER_BLOCK = 8;
    /**
     * The largest head width the softmax attention kernels take (their register rows are sized for it); the linear
     * attention takes up to {@link #LINEAR_MAX_HEAD_DIM}.
     */
    public static final int MAX_HEAD_DIM = 64;
    /** The largest head width the linear attention kernels take (dq's per-lane sums are sized for it). */
    public static final int LINEAR_MAX_HEAD_DIM = 128;
    /** Threads of the linear attention's token-sum blocks (16 × 16, a 4 × 4 register tile each). */
    static final int LINEAR_SUM_THREADS = 256;
    /** Output rows and (virtual) columns per token-sum block. */
    static final int LINEAR_SUM_BLOCK = 64;
    /** Tokens per shared-memory tile in the linear attention's token sums (summed in float, then in double). */
    static final int LINEAR_SUM_TILE = 32;
    /** Tokens a chunk of the linear attention's token sums gets at least. */
    static final int LINEAR_MIN_CHUNK = 256;
    /** Warps per block (one token each at a time) in the linear attention's token kernels. */
    static final int LINEAR_WARPS = 4;
    /** Tokens per block of the linear attention's token kernels. */
    static final int LINEAR_TOKENS = 64;
    /** Head widths up to this keep S in the token kernels' shared memory; wider ones read it in place. */
    static final int LINEAR_SHARED_S_MAX_D = 64;
    /** Queries (one per thread) per block and keys per shared tile of the softmax attention kernels. */
    static final int SOFTMAX_TILE = 64;
    /** Dynamic shared memory a kernel may take without opting in. */
    static final int DEFAULT_SHARED_LIMIT = 48 * 1024;
    /** Upper bound of {@link #sumOfSquares}' partial sums. */
    public static final int MAX_SUM_PARTIALS = 1024;

    /**
     * Temporary device memory, at least the bytes asked for, given back (to the stream-ordered pool) by
     * {@code release}: the kernels queued before that on the same stream still own it.
     */
    public record Scratch(MemorySegment pointer, Runnable release) implements AutoCloseable {
        @Override
        public void close() {
            release.run();
        }
    }

    private final KernelLauncher launcher;
    private final LongFunction<Scratch> scratch;

    /** Kernels whose two-stage reductions get NULL scratch pointers: for tests that only record launches. */
    public CudaKernels(KernelLauncher launcher) {
        this(launcher, bytes -> new Scratch(MemorySegment.NULL, () -> {}));
    }

    /** @param scratch temporary device memory by bytes (the reductions' partial sums) */
    public CudaKernels(KernelLauncher launcher, LongFunction<Scratch> scratch) {
        this.launcher = launcher;
        this.scratch = scratch;
    }

    // ================================================================ helpers

    private static int ceilDiv(long work, int per) {
        long g = (work + per - 1) / per;
        if (g > Integer.MAX_VALUE) throw new IllegalArgumentException("grid of " + g + " blocks is too large");
        return (int) g;
    }

    private static int grid1d(long work) {
        return Math.min(ceilDiv(work, BLOCK), MAX_GRID);
    }

    /**
     * Row chunks of a two-stage column reduction of {@code columns} outputs over {@code rows}: enough blocks to
     * fill the GPU, at least {@link #MIN_CHUNK_ROWS} rows each. A function of the shape only, so the sums (added
     * in chunk order) are the same on every GPU.
     */
    static int reductionChunks(long rows, long columns) {
        long columnBlocks = Math.max(1, (columns + 31) / 32);
        long chunks = Math.min(Math.max(1, REDUCTION_BLOCKS / columnBlocks), (rows + MIN_CHUNK_ROWS - 1) / MIN_CHUNK_ROWS);
        return Math.clamp(chunks, 1, 65535);
    }

    /** Stage 1 of a column reduction over {@code c} columns in {@code chunks} (pf_common.cuh): blocks of 256. */
    private void columnPartials(String kernel, int c, int chunks, Object... args) {
        launcher.launch(kernel, ceilDiv(c, 32), chunks, 1, BLOCK, 1, 1, 0, args);
    }

    private static MemorySegment plus(MemorySegment pointer, long bytes) {
        return MemorySegment.ofAddress(pointer.address() + bytes);
    }

    private static void requireNonNegative(String kernel, int... sizes) {
        for (int s : sizes) {
            if (s < 0) throw new IllegalArgumentException(kernel + ": negative size in " + Arrays.toString(sizes));
        }
    }

    /** An elementwise launch over {@code n} items: 256 threads per block, grid-stride loop in the kernel. */
    private void elementwise(String kernel, long n, Object... args) {
        if (n == 0) return;
        launcher.launch(kernel, grid1d(n), 1, 1, BLOCK, 1, 1, 0, args);
    }

    private static int headDim(String kernel, int c, int heads) {
        return headDim(kernel, c, heads, MAX_HEAD_DIM);
    }

    private static int headDim(String kernel, int c, int heads, int max) {
        if (heads <= 0 || c % heads != 0 || (c / heads) % 2 != 0) {
            throw new IllegalArgumentException(kernel + ": " + c + " channels do not split into " + heads
                    + " heads of even size");
        }
        int d = c / heads;
        if (d > max) {
            throw new IllegalArgumentException(kernel + ": head width " + d + " exceeds the kernels' " + max);
        }
        return d;
    }

    /** Pads a shape on the left to four dimensions (the kernels' broadcasting rank). */
    static int[] pad4(String kernel, int[] shape) {
        if (shape.length > 4) {
            throw new IllegalArgumentException(kernel + ": rank " + shape.length + " > 4 " + Arrays.toString(shape));
        }
        int[] p = {1, 1, 1, 1};
        System.arraycopy(shape, 0, p, 4 - shape.length, shape.length);
        return p;
    }

    private static long product(int[] shape) {
        long n = 1;
        for (int d : shape) n *= d;
        return n;
    }

    // ================================================================ pointwise.cu: fills and scaling

    /** {@code y[i] = value} for {@code i < n}. */
    public void fill(MemorySegment y, int n, float value) {
        requireNonNegative("pf_fill", n);
        elementwise("pf_fill", n, y, n, value);
    }

    /** {@code y = alpha·x} over {@code n} floats; {@code y} may be {@code x}. */
    public void scale(MemorySegment x, MemorySegment y, int n, float alpha) {
        requireNonNegative("pf_scale", n);
        elementwise("pf_scale", n, x, y, n, alpha);
    }

    /** {@code y += alpha·x} over {@code n} floats. */
    public void addScaled(MemorySegment x, MemorySegment y, int n, float alpha) {
        requireNonNegative("pf_add_scaled", n);
        elementwise("pf_add_scaled", n, x, y, n, alpha);
    }

    // ================================================================ pointwise.cu: activations

    /** Exact GELU {@code 0.5·x·(1 + erf(x/√2))}; {@code y} may be {@code x}. */
    public void gelu(MemorySegment x, MemorySegment y, int n) {
        requireNonNegative("pf_gelu", n);
        elementwise("pf_gelu", n, x, y, n);
    }

    /** {@code dx = dy·(Φ(x) + x·φ(x))} (overwritten). */
    public void geluBackward(MemorySegment x, MemorySegment dy, MemorySegment dx, int n) {
        requireNonNegative("pf_gelu_backward", n);
        elementwise("pf_gelu_backward", n, x, dy, dx, n);
    }

    /** SiLU {@code x·σ(x)}; {@code y} may be {@code x}. */
    public void silu(MemorySegment x, MemorySegment y, int n) {
        requireNonNegative("pf_silu", n);
        elementwise("pf_silu", n, x, y, n);
    }

    /** {@code dx = dy·σ(x)(1 + x(1 − σ(x)))} (overwritten). */
    public void siluBackward(MemorySegment x, MemorySegment dy, MemorySegment dx, int n) {
        requireNonNegative("pf_silu_backward", n);
        elementwise("pf_silu_backward", n, x, dy, dx, n);
    }

    // ================================================================ pointwise.cu: broadcasting and copies

    /**
     * {@code out = a + b} with {@code b} broadcast to {@code a}'s shape (numpy rules, rank ≤ 4). {@code a} and
     * {@code out} are contiguous with shape {@code shape}; {@code b} is contiguous with shape {@code bShape}.
     * {@code out} may be {@code a}.
     */
    public void broadcastAdd(MemorySegment a, MemorySegment b, MemorySegment out, int[] shape, int[] bShape) {
        broadcast("pf_broadcast_add", a, b, out, shape, bShape);
    }

    /** {@code out = a ⊙ b}, broadcast as {@link #broadcastAdd}. */
    public void broadcastMul(MemorySegment a, MemorySegment b, MemorySegment out, int[] shape, int[] bShape) {
        broadcast("pf_broadcast_mul", a, b, out, shape, bShape);
    }

    private void broadcast(String kernel, MemorySegment a, MemorySegment b, MemorySegment out, int[] shape,
                           int[] bShape) {
        int[] s = pad4(kernel, shape);
        int[] bs = broadcastStrides(kernel, bShape, s);
        elementwise(kernel, product(s), a, b, out, s[0], s[1], s[2], s[3], bs[0], bs[1], bs[2], bs[3]);
    }

    /** Strides of a contiguous {@code from} read as {@code to4} (rank 4): 0 along broadcast dimensions. */
    static int[] broadcastStrides(String kernel, int[] from, int[] to4) {
        int[] f = pad4(kernel, from);
        int[] strides = new int[4];
        for (int i = 3, acc = 1; i >= 0; i--) {
            if (f[i] != 1 && f[i] != to4[i]) {
                throw new IllegalArgumentException(kernel + ": " + Arrays.toString(from) + " does not broadcast to "
                        + Arrays.toString(to4));
            }
            strides[i] = f[i] == 1 ? 0 : acc;
            acc *= f[i];
        }
        return strides;
    }

    /**
     * {@code dst = src} over {@code shape} (rank ≤ 4), each side with its own element strides (this is how a
     * strided view becomes contiguous).
     */
    public void copyStrided(MemorySegment src, int[] srcStrides, MemorySegment dst, int[] dstStrides, int[] shape) {
        String k = "pf_copy_strided";
        int[] s = pad4(k, shape), ss = padStrides(k, srcStrides, shape), ds = padStrides(k, dstStrides, shape);
        elementwise(k, product(s), src, dst, s[0], s[1], s[2], s[3], ss[0], ss[1], ss[2], ss[3],
                ds[0], ds[1], ds[2], ds[3]);
    }

    private static int[] padStrides(String kernel, int[] strides, int[] shape) {
        if (strides.length != shape.length) {
            throw new IllegalArgumentException(kernel + ": strides " + Arrays.toString(strides) + " for shape "
                    + Arrays.toString(shape));
        }
        int[] p = new int[4];
        System.arraycopy(strides, 0, p, 4 - strides.length, strides.length);
        return p;
    }

    /**
     * {@code out (+)= Σ a} — or {@code Σ a⊙b} when {@code b} is not NULL — over the dimensions in which
     * {@code outShape} broadcasts to {@code shape} (rank ≤ 4; {@code a}, {@code b}, {@code out} contiguous).
     * Each output element is summed in double in a fixed order, in two stages (chunks of the reduced elements
     * into scratch partials, then those in chunk order); with {@code accumulate} the old value is added (parameter
     * gradients), otherwise overwritten. Backs {@code sumTo}, {@code mulSumTo} and bias gradients.
     */
    public void reduceTo(MemorySegment a, MemorySegment b, MemorySegment out, int[] shape, int[] outShape,
                         boolean accumulate) {
        String k = "pf_reduce_to";
        int[] s = pad4(k, shape), o = pad4(k, outShape);
        broadcastStrides(k, outShape, s); // validates
        long outSize = product(o);
        if (outSize == 0) return;
        int chunks = reductionChunks(product(s) / outSize, outSize);
        try (Scratch partials = scratch.apply((long) chunks * outSize * Double.BYTES)) {
            // Block (32, 8): the 256 threads of columnPartials in the shape CudaKernelsSignatureTest checks.
            launcher.launch(k, ceilDiv(outSize, 32), chunks, 1, 32, ROW_GROUPS, 1, 0,
                    a, b, partials.pointer(), s[0], s[1], s[2], s[3], o[0], o[1], o[2], o[3]);
            launcher.launch("pf_reduce_finish", grid1d(outSize), 1, 1, BLOCK, 1, 1, 0,
                    partials.pointer(), chunks, (int) outSize, out, MemorySegment.NULL, accumulate ? 1 : 0);
        }
    }

    /** Column sums of a contiguous {@code (rows, c)} matrix into {@code out (c)} (bias gradients: accumulate). */
    public void columnSum(MemorySegment x, int rows, int c, MemorySegment out, boolean accumulate) {
        reduceTo(x, MemorySegment.NULL, out, new int[] {rows, c}, new int[] {1, c}, accumulate);
    }

    /**
     * Converts a dense conv filter from PyTorch's {@code (O, I, kh, kw)} to cuDNN's NHWC filter layout
     * {@code (O, kh, kw, I)}; {@code dst} is overwritten.
     */
    public void filterOihwToOhwi(MemorySegment src, MemorySegment dst, int o, int i, int kh, int kw) {
        requireNonNegative("pf_filter_oihw_to_ohwi", o, i, kh, kw);
        elementwise("pf_filter_oihw_to_ohwi", (long) o * i * kh * kw, src, dst, o, i, kh, kw);
    }

    /**
     * The way back for a filter gradient: {@code dst (O, I, kh, kw) += src (O, kh, kw, I)} (parameter gradients
     * accumulate).
     */
    public void filterOhwiAddToOihw(MemorySegment src, MemorySegment dst, int o, int i, int kh, int kw) {
        requireNonNegative("pf_filter_ohwi_add_to_oihw", o, i, kh, kw);
        elementwise("pf_filter_ohwi_add_to_oihw", (long) o * i * kh * kw, src, dst, o, i, kh, kw);
    }

    // ================================================================ pointwise.cu: rows, rotary, pooling, loss

    /** Softmax of each row of a contiguous {@code (rows, n)} matrix; one block per row, sums in double. */
    public void softmaxRows(MemorySegment x, MemorySegment y, int rows, int n) {
        requireNonNegative("pf_softmax_rows", rows, n);
        if (rows == 0 || n == 0) return;
        launcher.launch("pf_softmax_rows", rows, 1, 1, BLOCK, 1, 1, 0, x, y, rows, n);
    }

    /** {@code dx = y ⊙ (dy − Σ dy⊙y)} per row (overwritten), the dot in double. */
    public void softmaxBackwardRows(MemorySegment y, MemorySegment dy, MemorySegment dx, int rows, int n) {
        requireNonNegative("pf_softmax_backward_rows", rows, n);
        if (rows == 0 || n == 0) return;
        launcher.launch("pf_softmax_backward_rows", rows, 1, 1, BLOCK, 1, 1, 0, y, dy, dx, rows, n);
    }

    /**
     * Rotary embedding of contiguous {@code x (batch, n, c)} with tables {@code sin, cos (n, width)},
     * {@code width | c}: every {@code width}-group of channels of token t has its pairs rotated by row t
     * ({@link dev.polaformer.numerics.Backend#rope}). {@code y} may be {@code x}.
     */
    public void rope(MemorySegment x, MemorySegment y, MemorySegment sin, MemorySegment cos, int batch, int n, int c,
                     int width) {
        rotary("pf_rope", x, y, sin, cos, batch, n, c, width);
    }

    /** The transpose of {@link #rope} (rotation by the opposite angles): {@code dx} from {@code dy}. */
    public void ropeBackward(MemorySegment dy, MemorySegment dx, MemorySegment sin, MemorySegment cos, int batch,
                             int n, int c, int width) {
        rotary("pf_rope_backward", dy, dx, sin, cos, batch, n, c, width);
    }

    private void rotary(String k, MemorySegment x, MemorySegment y, MemorySegment sin, MemorySegment cos,
                        int batch, int n, int c, int width) {
        requireNonNegative(k, batch, n, c, width);
        if (width <= 0 || width % 2 != 0 || c % width != 0) {
            throw new IllegalArgumentException(k + ": table width " + width + " must be even and divide " + c);
        }
        elementwise(k, (long) batch * n * c / 2, x, y, sin, cos, batch, n, c, width);
    }

    /** Global average pool {@code x (b, n, c) → y (b, c)}, each mean summed in double over the n positions. */
    public void avgPool(MemorySegment x, MemorySegment y, int b, int n, int c) {
        requireNonNegative("pf_avgpool", b, n, c);
        if (b == 0 || c == 0) return;
        launcher.launch("pf_avgpool", ceilDiv(c, BLOCK), b, 1, BLOCK, 1, 1, 0, x, y, b, n, c);
    }

    /** {@code dx (b, n, c) = dy (b, c) / n} broadcast over positions (overwritten). */
    public void avgPoolBackward(MemorySegment dy, MemorySegment dx, int b, int n, int c) {
        requireNonNegative("pf_avgpool_backward", b, n, c);
        elementwise("pf_avgpool_backward", (long) b * n * c, dy, dx, b, n, c);
    }

    /**
     * Soft-target cross-entropy of {@code logits, targets (b, k)}, one block per row in double:
     * {@code rowLoss[r] = Σ_j t_rj·(lse_r − l_rj)} (a {@code double} array of b; the caller adds the rows in
     * order and divides by b, and a non-finite row loss means non-finite input) and, when {@code dLogits} is not
     * NULL, {@code dLogits = (softmax(l_r)·Σt_r − t_r)/b} (overwritten).
     */
    public void crossEntropy(MemorySegment logits, MemorySegment targets, MemorySegment dLogits,
                             MemorySegment rowLoss, int b, int k) {
        requireNonNegative("pf_cross_entropy", b, k);
        if (b == 0) return;
        launcher.launch("pf_cross_entropy", b, 1, 1, BLOCK, 1, 1, 0, logits, targets, dLogits, rowLoss, b, k);
    }

    /** How many partial sums {@link #sumOfSquares} writes for {@code n} elements (a function of n only). */
    public static int sumOfSquaresPartials(int n) {
        return Math.max(1, Math.min(MAX_SUM_PARTIALS, ceilDiv(n, 16 * BLOCK)));
    }

    /**
     * Sum of squares of {@code n} floats in double: writes {@link #sumOfSquaresPartials(int)} double partials
     * (block p sums elements {@code p, p + P, ...} strided by blocks) into {@code partials}; the caller adds them
     * in order. Non-finite input yields a non-finite partial.
     *
     * @return the number of partials written
     */
    public int sumOfSquares(MemorySegment x, MemorySegment partials, int n) {
        requireNonNegative("pf_sum_squares", n);
        int p = sumOfSquaresPartials(n);
        launcher.launch("pf_sum_squares", p, 1, 1, BLOCK, 1, 1, 0, x, partials, n);
        return p;
    }

    // ================================================================ optimizer.cu

    /**
     * One AdamW step in place over {@code n} floats, exactly as {@code CpuOptimizer}: the step scalars are
     * computed here in double and rounded to float as PyTorch does ({@code decay = 1 − lr·wd},
     * {@code stepSize = lr/(1 − β1^step)}, {@code c2 = sqrt(1 − β2^step)}); the kernel then runs
     * {@code p ← p·decay; m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²; p ← p − m/(sqrt(v)/c2 + eps)·stepSize} in float.
     */
    public void adamW(MemorySegment param, MemorySegment grad, MemorySegment m, MemorySegment v, int n, float lr,
                      float beta1, float beta2, float eps, float weightDecay, long step) {
        requireNonNegative("pf_adamw", n);
        if (step < 1) throw new IllegalArgumentException("pf_adamw: step " + step + " must count from 1");
        float decay = (float) (1 - (double) lr * weightDecay);
        float stepSize = (float) (lr / (1 - Math.pow(beta1, step)));
        float c2 = (float) Math.sqrt(1 - Math.pow(beta2, step));
        elementwise("pf_adamw", n, param, grad, m, v, n, decay, stepSize, c2, beta1, beta2, eps);
    }

    // ================================================================ norm.cu

    /**
     * LayerNorm over the last dimension of a contiguous {@code (rows, c)} matrix, one warp per row, statistics in
     * double (mean, then biased variance of the deviations): {@code y = (x − μ)·rstd·gamma + beta},
     * {@code rstd = 1/sqrt(var + eps)}. {@code mean}, {@code rstd} (rows) are nullable.
     */
    public void layerNorm(MemorySegment x, MemorySegment gamma, MemorySegment beta, MemorySegment y,
                          MemorySegment mean, MemorySegment rstd, int rows, int c, float eps) {
        requireNonNegative("pf_layernorm_forward", rows, c);
        if (rows == 0) return;
        launcher.launch("pf_layernorm_forward", ceilDiv(rows, ROWS_PER_BLOCK), 1, 1, 32 * ROWS_PER_BLOCK, 1, 1, 0,
                x, gamma, beta, y, mean, rstd, rows, c, eps);
    }

    /**
     * LayerNorm input gradient (overwritten), one warp per row:
     * {@code dx = rstd·(g − mean(g) − x̂·mean(g⊙x̂))} with {@code g = dy⊙gamma}, row sums in double.
     * The parameter gradients are {@link #layerNormParamGrads}.
     */
    public void layerNormBackward(MemorySegment x, MemorySegment gamma, MemorySegment mean, MemorySegment rstd,
                                  MemorySegment dy, MemorySegment dx, int rows, int c) {
        requireNonNegative("pf_layernorm_backward", rows, c);
        if (rows == 0) return;
        launcher.launch("pf_layernorm_backward", ceilDiv(rows, ROWS_PER_BLOCK), 1, 1, 32 * ROWS_PER_BLOCK, 1, 1, 0,
                x, gamma, mean, rstd, dy, dx, rows, c);
    }

    /**
     * LayerNorm parameter gradients, accumulated: {@code dGamma += Σ_rows dy⊙x̂}, {@code dBeta += Σ_rows dy}, in
     * double over the rows in a fixed order (two stages through scratch). Either output is nullable.
     */
    public void layerNormParamGrads(MemorySegment x, MemorySegment mean, MemorySegment rstd, MemorySegment dy,
                                    MemorySegment dGamma, MemorySegment dBeta, int rows, int c) {
        requireNonNegative("pf_norm_grad_sums", rows, c);
        if (c == 0) return;
        int chunks = reductionChunks(rows, c);
        try (Scratch partials = scratch.apply(2L * chunks * c * Double.BYTES)) {
            columnPartials("pf_norm_grad_sums", c, chunks, x, mean, rstd, dy, partials.pointer(), rows, c, 1);
            launcher.launch("pf_reduce_finish", grid1d(c), 1, 1, BLOCK, 1, 1, 0,
                    partials.pointer(), chunks, c, dGamma, dBeta, 1);
        }
    }

    /**
     * BatchNorm training statistics per column of a contiguous {@code (rows, c)} matrix, in double: the batch
     * mean, the biased variance (two passes) giving {@code rstd = 1/sqrt(var + eps)}, and, when the running
     * tensors are not NULL, {@code running = (1 − momentum)·running + momentum·stat} with the <em>unbiased</em>
     * variance {@code ss/(rows − 1)} (PyTorch; NaN for one row, as the reference).
     */
    public void columnStats(MemorySegment x, MemorySegment mean, MemorySegment rstd, MemorySegment runningMean,
                            MemorySegment runningVar, int rows, int c, float eps, float momentum) {
        columnStats(x, MemorySegment.NULL, mean, rstd, runningMean, runningVar, MemorySegment.NULL, rows, c, eps,
                momentum);
    }

    /**
     * {@link #columnStats(MemorySegment, MemorySegment, MemorySegment, MemorySegment, MemorySegment, int, int, float,
     * float) columnStats}, also writing, when {@code affine} (3·c floats) is not NULL, the train-mode
     * {@link #batchNormApply(MemorySegment, MemorySegment, MemorySegment, MemorySegment, int, int) batchNormApply}'s
     * per-column {@code (hi, lo, scale)}: the double mean split into two floats and {@code rstd·gamma}.
     */
    public void columnStats(MemorySegment x, MemorySegment gamma, MemorySegment mean, MemorySegment rstd,
                            MemorySegment runningMean, MemorySegment runningVar, MemorySegment affine, int rows, int c,
                            float eps, float momentum) {
        requireNonNegative("pf_column_moments", rows, c);
        if (c == 0) return;
        int chunks = reductionChunks(rows, c);
        try (Scratch partials = scratch.apply(2L * chunks * c * Double.BYTES)) {
            columnPartials("pf_column_moments", c, chunks, x, partials.pointer(), rows, c);
            launcher.launch("pf_column_stats_finish", grid1d(c), 1, 1, BLOCK, 1, 1, 0, partials.pointer(), chunks, x,
                    gamma, mean, rstd, runningMean, runningVar, affine, rows, c, eps, momentum);
        }
    }

    /**
     * {@code y = (x − mean)·r·gamma + beta} per column, where {@code r = scale} (train: the batch rstd) or, with
     * {@code fromVariance}, {@code r = 1/sqrt(scale + eps)} (eval: {@code scale} is the running variance).
     */
    public void batchNormApply(MemorySegment x, MemorySegment mean, MemorySegment scale, MemorySegment gamma,
                               MemorySegment beta, MemorySegment y, int rows, int c, float eps, boolean fromVariance) {
        requireNonNegative("pf_batchnorm_affine", rows, c);
        if (c == 0) return;
        try (Scratch affine = scratch.apply(3L * c * Float.BYTES)) {
            elementwise("pf_batchnorm_affine", c, mean, scale, gamma, affine.pointer(), c, eps, fromVariance ? 1 : 0);
            batchNormApply(x, affine.pointer(), beta, y, rows, c);
        }
    }

    /**
     * {@code y = ((x − hi) − lo)·scale + beta} per column, {@code affine = (hi, lo, scale)} (3·c floats, from
     * {@link #columnStats(MemorySegment, MemorySegment, MemorySegment, MemorySegment, MemorySegment, MemorySegment,
     * MemorySegment, int, int, float, float) columnStats}), as the CPU backend.
     */
    public void batchNormApply(MemorySegment x, MemorySegment affine, MemorySegment beta, MemorySegment y, int rows,
                               int c) {
        requireNonNegative("pf_batchnorm_apply", rows, c);
        elementwise("pf_batchnorm_apply", (long) rows * c, x, affine, beta, y, rows, c);
    }

    /**
     * BatchNorm backward per column, sums in double: {@code dGamma += Σ dy⊙x̂}, {@code dBeta += Σ dy}
     * (accumulated, nullable) and {@code dx} (overwritten, nullable) {@code = gamma·rstd·(dy − Σdy/rows − x̂·Σdy⊙x̂/rows)}
     * with {@code batchStatistics}, else {@code gamma·rstd·dy}.
     */
    public void batchNormBackward(MemorySegment x, MemorySegment gamma, MemorySegment mean, MemorySegment rstd,
                                  MemorySegment dy, MemorySegment dx, MemorySegment dGamma, MemorySegment dBeta,
                                  int rows, int c, boolean batchStatistics) {
        requireNonNegative("pf_batchnorm_backward_dx", rows, c);
        if (c == 0) return;
        int chunks = reductionChunks(rows, c);
        long partialBytes = 2L * chunks * c * Double.BYTES;
        // Three stages: chunk sums, per-column totals (dGamma, dBeta and dx's coefficients), then dx.
        try (Scratch work = scratch.apply(partialBytes + 2L * c * Float.BYTES)) {
            MemorySegment partials = work.pointer(), coef = plus(partials, partialBytes);
            columnPartials("pf_norm_grad_sums", c, chunks, x, mean, rstd, dy, partials, rows, c, 0);
            launcher.launch("pf_batchnorm_backward_finish", grid1d(c), 1, 1, BLOCK, 1, 1, 0, partials, chunks, rstd,
                    dGamma, dBeta, coef, rows, c);
            elementwise("pf_batchnorm_backward_dx", (long) rows * c, x, gamma, mean, rstd, dy, coef, dx, rows, c,
                    batchStatistics ? 1 : 0);
        }
    }

    // ================================================================ depthwise.cu

    /** Blocks of a depthwise convolution launch: 8 of 256 threads per SM of an H100 (132 SMs), one wave. */
    static final int DEPTHWISE_BLOCKS = 8 * 132;
    /** Shared memory a depthwise convolution block stages its channel group's weights in (sets the group size). */
    static final int DEPTHWISE_WEIGHT_BYTES = 16 * 1024;
    /** Output columns per work item of the depthwise weight gradient (PF_DW_SEGMENT in depthwise.cu). */
    static final int DEPTHWISE_SEGMENT = 64;
    /** Work items (segments of an output row) a chunk of the depthwise weight gradient gets at least. */
    static final int DEPTHWISE_MIN_CHUNK_ITEMS = 16;

    /**
     * Depthwise convolution, stride 1: {@code x (b, h, w, c)}, {@code weight (c, 1, k, k)}, {@code bias (c)}
     * nullable, {@code y (b, ho, wo, c)} with {@code ho = h + 2·pad − k + 1} (overwritten). One thread per output
     * pixel and 4 channels (1 when c or the pointers do not allow float4), see {@link #depthwiseConv}.
     */
    public void depthwiseForward(MemorySegment x, MemorySegment weight, MemorySegment bias, MemorySegment y,
                                 int b, int h, int w, int c, int k, int pad) {
        requireNonNegative("pf_depthwise_forward", b, h, w, c, k, pad);
        long pixels = (long) b * Math.max(0, h + 2 * pad - k + 1) * Math.max(0, w + 2 * pad - k + 1);
        depthwiseConv("pf_depthwise_forward", pixels, c, k, x, y, x, weight, bias, y, b, h, w, c, k, pad);
    }

    /** Input gradient of {@link #depthwiseForward}: {@code dx (b, h, w, c)} overwritten, one thread per input pixel. */
    public void depthwiseBackwardInput(MemorySegment dy, MemorySegment weight, MemorySegment dx,
                                       int b, int h, int w, int c, int k, int pad) {
        requireNonNegative("pf_depthwise_backward_input", b, h, w, c, k, pad);
        depthwiseConv("pf_depthwise_backward_input", (long) b * h * w, c, k, dy, dx, dy, weight, dx, b, h, w, c, k, pad);
    }

    /**
     * The launch of pf_depthwise_conv (depthwise.cu) over {@code pixels} output pixels: blocks of 256 threads;
     * channels in vectors of 4 (c % 4 == 0 and 16-byte aligned {@code in}, {@code out}) or 1, split into
     * {@code gridDim.y} groups small enough that a group's weights fit {@link #DEPTHWISE_WEIGHT_BYTES} of shared
     * memory; {@code gridDim.x} blocks walk the pixels with a grid stride. The kernel takes the vector width as
     * its last argument.
     */
    private void depthwiseConv(String kernel, long pixels, int c, int k, MemorySegment in, MemorySegment out,
                               Object... args) {
        if (pixels <= 0 || c == 0) return;
        long channelBytes = (long) k * k * Float.BYTES;  // one channel's weights
        if (channelBytes > DEFAULT_SHARED_LIMIT) {
            throw new IllegalArgumentException(kernel + ": a " + k + "×" + k + " kernel's weights exceed shared memory");
        }
        boolean float4 = c % 4 == 0 && in.address() % 16 == 0 && out.address() % 16 == 0
                && 4 * channelBytes <= DEFAULT_SHARED_LIMIT;
        int vec = float4 ? 4 : 1, vectors = c / vec;
        long tapBytes = channelBytes * vec;  // one channel vector's weights
        int maxGroup = (int) Math.clamp(DEPTHWISE_WEIGHT_BYTES / Math.max(1, tapBytes), 1, BLOCK);
        int groups = ceilDiv(vectors, maxGroup), group = ceilDiv(vectors, groups), slots = BLOCK / group;
        int blocks = Math.min(ceilDiv(pixels, slots), Math.max(1, DEPTHWISE_BLOCKS / groups));
        Object[] all = Arrays.copyOf(args, args.length + 1);
        all[args.length] = vec;
        launcher.launch(kernel, blocks, groups, 1, BLOCK, 1, 1, (int) (group * tapBytes), all);
    }

    /**
     * Weight gradient of {@link #depthwiseForward}, accumulated: {@code dWeight (c, 1, k, k) += Σ dy·x}, in
     * double over all output positions, in two deterministic stages: blocks of (32 channels, {@link
     * #depthwiseWeightChunks} chunks of output-row segments) summing all k² taps at once into scratch partials
     * (that many · k² · c doubles), then their sum in chunk order. The bias gradient is {@link #columnSum} of
     * {@code dy}.
     */
    public void depthwiseBackwardWeight(MemorySegment x, MemorySegment dy, MemorySegment dWeight,
                                        int b, int h, int w, int c, int k, int pad) {
        requireNonNegative("pf_depthwise_backward_weight", b, h, w, c, k, pad);
        if (c == 0 || k == 0) return;
        int chunks = depthwiseWeightChunks(b, h, w, c, k, pad);
        try (Scratch partials = scratch.apply((long) chunks * k * k * c * Double.BYTES)) {
            launcher.launch("pf_depthwise_backward_weight", ceilDiv(c, 32), chunks, 1, 32, ROW_GROUPS, 1, 0,
                    x, dy, partials.pointer(), b, h, w, c, k, pad);
            elementwise("pf_depthwise_backward_weight_finish", (long) k * k * c, partials.pointer(), dWeight, c, k * k,
                    chunks);
        }
    }

    /**
     * Chunks of work items (output rows cut into {@link #DEPTHWISE_SEGMENT} columns) for {@link
     * #depthwiseBackwardWeight}: about {@link #REDUCTION_BLOCKS} blocks in all, at least {@link
     * #DEPTHWISE_MIN_CHUNK_ITEMS} items each. A function of the shape only, so the sums are the same on every GPU.
     */
    public static int depthwiseWeightChunks(int b, int h, int w, int c, int k, int pad) {
        long wo = Math.max(0, w + 2 * pad - k + 1);
        long items = (long) b * Math.max(0, h + 2 * pad - k + 1) * ((wo + DEPTHWISE_SEGMENT - 1) / DEPTHWISE_SEGMENT);
        long channelBlocks = Math.max(1, (c + 31) / 32);
        long chunks = Math.min(Math.max(1, REDUCTION_BLOCKS / channelBlocks),
                (items + DEPTHWISE_MIN_CHUNK_ITEMS - 1) / DEPTHWISE_MIN_CHUNK_ITEMS);
        return (int) Math.clamp(chunks, 1, 65535);
    }

    // ================================================================ attention_linear.cu
    //
    // Forward:  linearAttentionKv → linearAttentionOut.
    // Backward: linearAttentionKv (recompute m, S) → linearAttentionDq (also dm, dSig) → linearAttentionDsum →
    //           linearAttentionDsigma and linearAttentionDkv.
    // Buffers (float, contiguous, owned by the caller), with d = c/heads:
    //   m (b, heads, 2d), s (b, heads, 2d, d) [columns < d/2: S1, the rest: S2],
    //   tokenScalars (b, heads, n, 4), dS like s, dm like m, dSig (b, heads, 2, 2d).
    // The token sums take their double partials from scratch and finish them inside the call.

    /**
     * Blocks per (batch, head) and chunk of a token-sum kernel: 64-row blocks of the 2d rows times 64-column blocks
     * of the {@code flows} column groups of d/flows columns, each padded to a multiple of 16 (attention_linear.cu).
     */
    static int linearSumTiles(int d, int flows) {
        int padded = (d / flows + 15) / 16 * 16;
        return ceilDiv(2 * d, LINEAR_SUM_BLOCK) * ceilDiv((long) flows * padded, LINEAR_SUM_BLOCK);
    }

    /**
     * Token chunks of a token sum: enough blocks to fill the GPU, at least {@link #LINEAR_MIN_CHUNK} tokens each.
     * A function of the shape only, so the sums (chunks added in order) are the same on every GPU.
     */
    static int linearChunks(int bh, int n, int tiles) {
        long blocks = (long) bh * tiles;
        long chunks = Math.min((REDUCTION_BLOCKS + blocks - 1) / blocks, (n + LINEAR_MIN_CHUNK - 1) / LINEAR_MIN_CHUNK);
        return (int) Math.clamp(chunks, 1, 65535);
    }

    /** Staged token tiles of the token sums: three [tile][64] float arrays. */
    static int linearSumShared() {
        return 3 * LINEAR_SUM_TILE * LINEAR_SUM_BLOCK * Float.BYTES;
    }

    /** {@code out[e] = Σ_chunk partials[chunk][e] / divisor} in chunk order, e < count. */
    private void linearFinish(MemorySegment partials, int chunks, long count, int divisor, MemorySegment out) {
        elementwise("pf_linear_attention_finish", count, partials, chunks, count, divisor, out);
    }

    /**
     * The key pass: per (batch, head), {@code m = mean_n κ(k_n)} and {@code S = mean_n rope(κ(k_n))·[v¹|v²]ᵀ} with
     * κ(k) = exp([k⁺, k⁻]) − 1 and tables {@code sin, cos (n, 2d)}; token sums are float tiles of
     * {@value #LINEAR_SUM_TILE} added in double, in chunks added in order. A key above
     * {@link dev.polaformer.numerics.LinearAttention#MAX_KEY} makes m infinite: the caller checks m and names the key.
     */
    public void linearAttentionKv(MemorySegment k, int kRowStride, MemorySegment v, int vRowStride,
                                  MemorySegment sin, MemorySegment cos, MemorySegment m, MemorySegment s,
                                  int b, int n, int c, int heads) {
        String kn = "pf_linear_attention_kv";
        requireNonNegative(kn, kRowStride, vRowStride, b, n, c);
        int d = headDim(kn, c, heads, LINEAR_MAX_HEAD_DIM);
        if (b == 0) return;
        int bh = b * heads, tiles = linearSumTiles(d, 1), chunks = linearChunks(bh, n, tiles);
        long sCount = (long) bh * 2 * d * d, mCount = (long) bh * 2 * d;
        try (Scratch partials = scratch.apply((long) chunks * (sCount + mCount) * Double.BYTES)) {
            MemorySegment ps = partials.pointer(), pm = plus(ps, (long) chunks * sCount * Double.BYTES);
            launcher.launch(kn, bh, chunks, tiles, LINEAR_SUM_THREADS, 1, 1, linearSumShared(),
                    k, kRowStride, v, vRowStride, sin, cos, ps, pm, b, n, c, heads);
            linearFinish(ps, chunks, sCount, n, s);
            linearFinish(pm, chunks, mCount, n, m);
        }
    }

    /**
     * The query pass: {@code out_n = [rope(φsim)ᵀS1/(φsim·m + 1e-6), rope(φopp)ᵀS2/(φopp·m + 1e-6)]} from
     * {@link #linearAttentionKv}'s m and s; {@code s1, s2 (heads, 2d)} are the raw temperatures. One warp per
     * token, {@value #LINEAR_TOKENS} tokens a block, S of the (batch, head) in shared memory for d ≤
     * {@value #LINEAR_SHARED_S_MAX_D}.
     */
    public void linearAttentionOut(MemorySegment q, int qRowStride, MemorySegment s1, MemorySegment s2,
                                   MemorySegment sin, MemorySegment cos, MemorySegment m, MemorySegment s,
                                   MemorySegment out, int outRowStride, int b, int n, int c, int heads) {
        String kn = "pf_linear_attention_out";
        requireNonNegative(kn, qRowStride, outRowStride, b, n, c);
        int d = headDim(kn, c, heads, LINEAR_MAX_HEAD_DIM);
        if (b == 0 || n == 0) return;
        launcher.launch(kn, ceilDiv(n, LINEAR_TOKENS), b * heads, 1, 32 * LINEAR_WARPS, 1, 1, linearTokenShared(d),
                q, qRowStride, s1, s2, sin, cos, m, s, out, outRowStride, b, n, c, heads);
    }

    /** S with rows padded to d + 1 (only for d ≤ {@value #LINEAR_SHARED_S_MAX_D}), m, and per-warp rows. */
    static int linearTokenShared(int d) {
        int matrix = d <= LINEAR_SHARED_S_MAX_D ? 2 * d * (d + 1) : 0;
        return (matrix + 2 * d + LINEAR_WARPS * (4 * 2 * d + d)) * Float.BYTES;
    }

    /**
     * Backward, query pass: {@code dq} (overwritten); per token {@code tokenScalars[b, h, t] = (1/z_sim, 1/z_opp,
     * dz_sim, dz_opp)} for {@link #linearAttentionDsum}, where {@code dz_f = −Σ_j g_fj·out_fj / z_f}; and the token
     * sums (overwritten) {@code dm = Σ_t Σ_f dz_f·φ_f} and {@code dSig[b, h, f] = Σ_t dφ_f⊙(φ_f + 1)⊙x_f} (the
     * gradient with respect to σ_f before the sigmoid's derivative), per block of tokens in double partials added
     * in order. {@code m, s} come from {@link #linearAttentionKv} on the same keys.
     */
    public void linearAttentionDq(MemorySegment q, int qRowStride, MemorySegment s1, MemorySegment s2,
                                  MemorySegment sin, MemorySegment cos, MemorySegment m, MemorySegment s,
                                  MemorySegment dOut, int dOutRowStride, MemorySegment dq, int dqRowStride,
                                  MemorySegment tokenScalars, MemorySegment dm, MemorySegment dSig,
                                  int b, int n, int c, int heads) {
        String kn = "pf_linear_attention_dq";
        requireNonNegative(kn, qRowStride, dOutRowStride, dqRowStride, b, n, c);
        int d = headDim(kn, c, heads, LINEAR_MAX_HEAD_DIM);
        if (b == 0 || n == 0) return;
        int bh = b * heads, blocks = ceilDiv(n, LINEAR_TOKENS);
        long sigCount = (long) bh * 4 * d, mCount = (long) bh * 2 * d;
        try (Scratch partials = scratch.apply((long) blocks * (sigCount + mCount) * Double.BYTES)) {
            MemorySegment psig = partials.pointer(), pm = plus(psig, (long) blocks * sigCount * Double.BYTES);
            launcher.launch(kn, blocks, bh, 1, 32 * LINEAR_WARPS, 1, 1, linearTokenShared(d),
                    q, qRowStride, s1, s2, sin, cos, m, s, dOut, dOutRowStride, dq, dqRowStride, tokenScalars,
                    psig, pm, b, n, c, heads);
            linearFinish(psig, blocks, sigCount, 1, dSig);
            linearFinish(pm, blocks, mCount, 1, dm);
        }
    }

    /**
     * Backward, the token sum {@code dS_f = Σ_t rope(φ_f)ᵀ·(g_f/z_f)} per (batch, head), overwritten (layout of s),
     * from {@link #linearAttentionDq}'s token scalars. Float tiles of {@value #LINEAR_SUM_TILE} tokens summed in
     * double, in chunks added in order.
     */
    public void linearAttentionDsum(MemorySegment q, int qRowStride, MemorySegment s1, MemorySegment s2,
                                    MemorySegment sin, MemorySegment cos, MemorySegment dOut, int dOutRowStride,
                                    MemorySegment tokenScalars, MemorySegment dS, int b, int n, int c, int heads) {
        String kn = "pf_linear_attention_dsum";
        requireNonNegative(kn, qRowStride, dOutRowStride, b, n, c);
        int d = headDim(kn, c, heads, LINEAR_MAX_HEAD_DIM);
        if (b == 0) return;
        int bh = b * heads, tiles = linearSumTiles(d, 2), chunks = linearChunks(bh, n, tiles);
        long count = (long) bh * 2 * d * d;
        try (Scratch partials = scratch.apply((long) chunks * count * Double.BYTES)) {
            launcher.launch(kn, bh, chunks, tiles, LINEAR_SUM_THREADS, 1, 1, linearSumShared(),
                    q, qRowStride, s1, s2, sin, cos, dOut, dOutRowStride, tokenScalars, partials.pointer(),
                    b, n, c, heads);
            linearFinish(partials.pointer(), chunks, count, 1, dS);
        }
    }

    /**
     * Backward, temperatures: {@code ds_f[h, j] += σ_f(1 − σ_f)·Σ_b dSig[b, h, f, j]} (batches in order), for
     * {@code ds1} (f = sim) and {@code ds2} (f = opp), each nullable.
     */
    public void linearAttentionDsigma(MemorySegment dSig, MemorySegment s1, MemorySegment s2, MemorySegment ds1,
                                      MemorySegment ds2, int b, int heads, int d) {
        String kn = "pf_linear_attention_dsigma";
        requireNonNegative(kn, b, heads, d);
        elementwise(kn, (long) heads * 2 * d, dSig, s1, s2, ds1, ds2, b, heads, d);
    }

    /**
     * Backward, key pass: {@code dv_n = dSᵀ·R_n / n} and {@code dk} from {@code dκ_n = rotᵀ(dS·v_n)/n + dm/n}
     * through κ = exp([k⁺,k⁻]) − 1 (both overwritten), one warp per token, dS as S in {@link #linearAttentionOut}.
     */
    public void linearAttentionDkv(MemorySegment k, int kRowStride, MemorySegment v, int vRowStride,
                                   MemorySegment sin, MemorySegment cos, MemorySegment dS, MemorySegment dm,
                                   MemorySegment dk, int dkRowStride, MemorySegment dv, int dvRowStride,
                                   int b, int n, int c, int heads) {
        String kn = "pf_linear_attention_dkv";
        requireNonNegative(kn, kRowStride, vRowStride, dkRowStride, dvRowStride, b, n, c);
        int d = headDim(kn, c, heads, LINEAR_MAX_HEAD_DIM);
        if (b == 0 || n == 0) return;
        launcher.launch(kn, ceilDiv(n, LINEAR_TOKENS), b * heads, 1, 32 * LINEAR_WARPS, 1, 1, linearTokenShared(d),
                k, kRowStride, v, vRowStride, sin, cos, dS, dm, dk, dkRowStride, dv, dvRowStride, b, n, c, heads);
    }

    // ================================================================ attention_softmax.cu
    //
    // Forward: softmaxAttentionForward (lse nullable). Backward: softmaxAttentionForward again with lse (the
    // rows' log-sum-exp, float (b, heads, n)) into a scratch out, then softmaxAttentionBackwardDq (writes delta,
    // float (b, heads, n)), then softmaxAttentionBackwardDkv. One thread per query (or key) row, tiles of 64 rows
    // of the other side in shared memory; kernels exist for head widths up to 32 and up to 64 ("_d32", "_d64").

    private static String softmaxKernel(String base, int d) {
        return base + (d <= 32 ? "_d32" : "_d64");
    }

    /** Rotated key and value tiles (the value tile also serves dO in the backward). */
    static int softmaxShared(int d) {
        return 2 * SOFTMAX_TILE * d * Float.BYTES + 2 * SOFTMAX_TILE * Float.BYTES;
    }

    /**
     * Flash-style softmax attention forward: {@code out_i = Σ_j softmax_j(d^−½·rope(q_i)·rope(k_j)) v_j} with an
     * online softmax over key tiles; tables {@code sin, cos (n, d)}. {@code lse} (nullable) receives each row's
     * {@code max + log Σ exp} of the scaled logits, for the backward.
     */
    public void softmaxAttentionForward(MemorySegment q, int qRowStride, MemorySegment k, int kRowStride,
                                        MemorySegment v, int vRowStride, MemorySegment sin, MemorySegment cos,
                                        MemorySegment out, int outRowStride, MemorySegment lse,
                                        int b, int n, int c, int heads) {
        String base = "pf_softmax_attention_forward";
        requireNonNegative(base, qRowStride, kRowStride, vRowStride, outRowStride, b, n, c);
        int d = headDim(base, c, heads);
        if (b == 0 || n == 0) return;
        launcher.launch(softmaxKernel(base, d), ceilDiv(n, SOFTMAX_TILE), b * heads, 1, SOFTMAX_TILE, 1, 1,
                softmaxShared(d), q, qRowStride, k, kRowStride, v, vRowStride, sin, cos, out, outRowStride, lse,
                b, n, c, heads);
    }

    /**
     * Backward for the queries: {@code delta_i = dO_i·O_i} (written, float (b, heads, n)) and {@code dq}
     * (overwritten) {@code = rotᵀ(d^−½ Σ_j P_ij (dO_i·v_j − delta_i) rope(k_j))}, P recomputed from {@code lse}.
     */
    public void softmaxAttentionBackwardDq(MemorySegment q, int qRowStride, MemorySegment k, int kRowStride,
                                           MemorySegment v, int vRowStride, MemorySegment sin, MemorySegment cos,
                                           MemorySegment out, int outRowStride, MemorySegment lse,
                                           MemorySegment dOut, int dOutRowStride, MemorySegment dq, int dqRowStride,
                                           MemorySegment delta, int b, int n, int c, int heads) {
        String base = "pf_softmax_attention_backward_dq";
        requireNonNegative(base, qRowStride, kRowStride, vRowStride, outRowStride, dOutRowStride, dqRowStride,
                b, n, c);
        int d = headDim(base, c, heads);
        if (b == 0 || n == 0) return;
        launcher.launch(softmaxKernel(base, d), ceilDiv(n, SOFTMAX_TILE), b * heads, 1, SOFTMAX_TILE, 1, 1,
                softmaxShared(d), q, qRowStride, k, kRowStride, v, vRowStride, sin, cos, out, outRowStride, lse,
                dOut, dOutRowStride, dq, dqRowStride, delta, b, n, c, heads);
    }

    /**
     * Backward for keys and values (both overwritten): {@code dv_j = Σ_i P_ij dO_i} and
     * {@code dk_j = rotᵀ(d^−½ Σ_i P_ij (dO_i·v_j − delta_i) rope(q_i))}, from {@code lse} and
     * {@link #softmaxAttentionBackwardDq}'s {@code delta}.
     */
    public void softmaxAttentionBackwardDkv(MemorySegment q, int qRowStride, MemorySegment k, int kRowStride,
                                            MemorySegment v, int vRowStride, MemorySegment sin, MemorySegment cos,
                                            MemorySegment lse, MemorySegment delta, MemorySegment dOut,
                                            int dOutRowStride, MemorySegment dk, int dkRowStride, MemorySegment dv,
                                            int dvRowStride, int b, int n, int c, int heads) {
        String base = "pf_softmax_attention_backward_dkv";
        requireNonNegative(base, qRowStride, kRowStride, vRowStride, dOutRowStride, dkRowStride, dvRowStride,
                b, n, c);
        int d = headDim(base, c, heads);
        if (b == 0 || n == 0) return;
        launcher.launch(softmaxKernel(base, d), ceilDiv(n, SOFTMAX_TILE), b * heads, 1, SOFTMAX_TILE, 1, 1,
                softmaxShared(d), q, qRowStride, k, kRowStride, v, vRowStride, sin, cos, lse, delta, dOut,
                dOutRowStride, dk, dkRowStride, dv, dvRowStride, b, n, c, heads);
    }
}
