package dev.polaformer.numerics;

/**
 * The operations the PolaFormer++ model and trainer run on, implemented once per device ({@code reference},
 * {@code cpu}, {@code cuda}). Obtain one with {@link Backends#get()}; providers are found with
 * {@link java.util.ServiceLoader} (see {@link BackendProvider}).
 *
 * <h2>Conventions</h2>
 * <ul>
 *   <li>All tensors are float32 and must live on this backend.</li>
 *   <li>Feature maps are channels-last {@code (B, H, W, C)}, the token layout {@code (B, N, C)}; weights keep
 *       PyTorch's layout ({@code (out, in)} for linear, {@code (out, in/groups, kh, kw)} for conv).</li>
 *   <li>Outputs are passed in (destination passing), so callers decide where memory comes from and can plan
 *       it once per shape. A gradient of an <em>input</em> ({@code dx}) is overwritten; a gradient of a
 *       <em>parameter</em> ({@code dWeight}, {@code dBias}, {@code dGamma}, ...) is accumulated, as
 *       PyTorch's {@code .grad}. Any gradient output may be {@code null} when it is not wanted; other arguments
 *       (weights, {@code gamma}, {@code beta}, statistics) are required unless an op says otherwise. Outputs
 *       may alias inputs only where an op says so.</li>
 *   <li>Tensors must be contiguous unless the op says otherwise: {@link #matmul} operands and the attention
 *       cores' inputs and outputs may be column slices (unit-stride rows, any row stride); {@link #copy}
 *       takes any strides and is how a strided view becomes contiguous.</li>
 *   <li>Every op checks its arguments and fails with an exception naming the op and the shapes; reductions
 *       that can be long (norm statistics, parameter gradients, loss) accumulate in double.</li>
 * </ul>
 * Implementations are thread-safe: one backend serves concurrent callers.
 */
public interface Backend {

    /** The id used to select this backend: {@code reference}, {@code cpu}, {@code cuda}. */
    String id();

    /** One line on how this backend is configured (vector width, threads, device). */
    String describe();

    // ================================================================ memory

    /** A new zero-filled tensor owned by the caller. */
    Tensor zeros(int... shape);

    /** A new tensor with unspecified contents, for outputs that an op overwrites completely. */
    Tensor empty(int... shape);

    /** A new tensor holding a copy of {@code values} (row-major). */
    Tensor fromArray(float[] values, int... shape);

    /** {@code dst = src}, element by element; either may be a strided view (this is how layouts change). */
    void copy(Tensor src, Tensor dst);

    void fill(Tensor dst, float value);

    /** Returns pooled, currently unused memory to the system. */
    default void trim() {}

    /**
     * Waits until every op called so far has finished. A backend that queues work (cuda) needs it before a clock
     * stops; one that runs each op as it is called ({@code cpu}, {@code reference}) returns at once.
     */
    default void synchronize() {}

    /**
     * Whether {@link #record} works here. The {@code cpu} backend records; the others run {@code work} each time.
     */
    default boolean canRecord() {
        return false;
    }

    /**
     * Runs {@code work} (ops on tensors that stay allocated, such as a planned inference pass) and records the
     * kernels it issues, so that {@link Recording#replay} runs those kernels again on the same tensors without
     * {@code work}'s Java code: no shape checks, no views, no allocation. What {@code work} computed once from
     * unchanging inputs (packed constant weights, tables) is kept, so a recording is a snapshot of the weights it
     * read: write new input values into the same tensors and replay; record again after the weights change.
     *
     * @throws UnsupportedOperationException where {@link #canRecord} is false
     */
    default Recording record(Runnable work) {
        throw new UnsupportedOperationException("the '" + id() + "' backend cannot record work to replay");
    }

    /** Kernels recorded by {@link #record}. */
    interface Recording {
        /** Runs the recorded kernels again, in order; allocates nothing. One replay at a time. */
        void replay();
    }

    /**
     * A copy of {@code values} that the caller promises never to change: inference weights. A backend may keep,
     * next to it, the layout its kernels read fastest ({@code cpu}: {@code matmul}'s right operand and
     * {@code conv2d}'s weight already packed into GEMM panels), built on first use and reused by every later
     * call, where an ordinary tensor is re-packed on every call. Ops read it like any tensor; writing it through
     * {@link Storage#write} fails. The default is a plain copy. The caller owns (closes) it.
     */
    default Tensor constant(Tensor values) {
        Tensor t = empty(values.shape());
        copy(values, t);
        return t;
    }

    // ================================================================ matrix multiply

    /**
     * {@code c = alpha · op(a) · op(b) + beta · c}, where {@code op(x)} is {@code x} or {@code xᵀ}.
     * Operands are row-major matrices {@code (rows, cols)} with unit column stride and any row stride, or
     * batches {@code (batch, rows, cols)} of them; a 2-D {@code a} or {@code b} is shared by every matrix of
     * a 3-D {@code c}. With {@code beta == 0} the old contents of {@code c} are ignored (even NaN).
     */
    void matmul(Tensor a, boolean transA, Tensor b, boolean transB, Tensor c, float alpha, float beta);

    /**
     * A linear layer's forward, {@code y = x·weightᵀ + bias}: {@code x (m, in)}, {@code weight (out, in)},
     * {@code bias (out)} or null, {@code y (m, out)}. The same as {@link #matmul} followed by {@link #add} (the
     * default), rounded the same way; a backend may add the bias as it writes the product (the {@code cpu}
     * backend does for a {@link #constant} weight) and save a pass over {@code y}.
     */
    default void linear(Tensor x, Tensor weight, Tensor bias, Tensor y) {
        matmul(x, false, weight, true, y, 1f, 0f);
        if (bias != null) add(y, bias, y);
    }

    /**
     * {@code y = gelu(x·weightᵀ + bias)}: {@link #linear} then {@link #gelu} in place (the default), with the same
     * rounding; a backend may apply the activation to each tile of the product while it is in cache, sparing a
     * pass over {@code y}, the largest activation of a transformer's MLP (the {@code cpu} backend does for a
     * {@link #constant} weight).
     */
    default void linearGelu(Tensor x, Tensor weight, Tensor bias, Tensor y) {
        linear(x, weight, bias, y);
        gelu(y, y);
    }

    // ================================================================ convolution

    /**
     * Dense 2-D convolution (cross-correlation, as PyTorch): {@code x (B,H,W,Cin)}, {@code weight
     * (Cout,Cin,kh,kw)}, {@code bias (Cout)} or null, {@code y (B,Ho,Wo,Cout)} with
     * {@code Ho = (H + 2·padding − kh)/stride + 1}.
     */
    void conv2d(Tensor x, Tensor weight, Tensor bias, int stride, int padding, Tensor y);

    void conv2dBackward(Tensor x, Tensor weight, Tensor dy, int stride, int padding,
                        Tensor dx, Tensor dWeight, Tensor dBias);

    /**
     * Depthwise convolution, stride 1 ({@code groups = C}): {@code x (B,H,W,C)}, {@code weight (C,1,k,k)},
     * {@code bias (C)} or null, {@code y (B,Ho,Wo,C)} with {@code Ho = H + 2·padding − k + 1}.
     */
    void depthwiseConv2d(Tensor x, Tensor weight, Tensor bias, int padding, Tensor y);

    void depthwiseConv2dBackward(Tensor x, Tensor weight, Tensor dy, int padding,
                                 Tensor dx, Tensor dWeight, Tensor dBias);

    // ================================================================ normalisation (over the last dimension C)

    /**
     * LayerNorm over the last dimension of {@code x (M..., C)}: {@code y = (x − μ)·rstd·gamma + beta} with
     * biased variance. {@code mean} and {@code rstd} (shape {@code (M)} = all but the last dimension,
     * flattened) receive the statistics for the backward, or are null.
     */
    void layerNorm(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor y, Tensor mean, Tensor rstd);

    void layerNormBackward(Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dy,
                           Tensor dx, Tensor dGamma, Tensor dBeta);

    /**
     * BatchNorm in training mode over {@code x (M..., C)}: normalises with the batch mean and biased variance
     * per channel, writes them as {@code mean}, {@code rstd = 1/sqrt(var + eps)} for the backward, and updates
     * {@code running = (1 − momentum)·running + momentum·stat} with the <em>unbiased</em> variance (PyTorch).
     * The running tensors may be null (no update).
     */
    void batchNormTrain(Tensor x, Tensor gamma, Tensor beta, float eps, float momentum, Tensor y,
                        Tensor mean, Tensor rstd, Tensor runningMean, Tensor runningVar);

    /** BatchNorm in evaluation mode: {@code y = (x − runningMean)/sqrt(runningVar + eps)·gamma + beta}. */
    void batchNormEval(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar, float eps, Tensor y);

    /**
     * Backward of either BatchNorm mode. {@code mean}/{@code rstd} are those the forward normalised with; with
     * {@code batchStatistics} they were computed from {@code x} (train mode) and the gradient flows through
     * them too.
     */
    void batchNormBackward(Tensor x, Tensor gamma, Tensor mean, Tensor rstd, boolean batchStatistics, Tensor dy,
                           Tensor dx, Tensor dGamma, Tensor dBeta);

    // ================================================================ activations

    /** Exact GELU, {@code x·Φ(x)} with the error function. {@code y} may be {@code x}. */
    void gelu(Tensor x, Tensor y);

    void geluBackward(Tensor x, Tensor dy, Tensor dx);

    /** SiLU / Swish, {@code x·sigmoid(x)}. */
    void silu(Tensor x, Tensor y);

    /** {@code dx = dy·σ(x)(1 + x(1 − σ(x)))}. */
    void siluBackward(Tensor x, Tensor dy, Tensor dx);

    /** Softmax over the last dimension. */
    void softmax(Tensor x, Tensor y);

    /** {@code dx = y ⊙ (dy − Σ dy⊙y)} per row, from the forward's output {@code y}. */
    void softmaxBackward(Tensor y, Tensor dy, Tensor dx);

    /**
     * Rotary position embedding on {@code x (B, N, C)}: every {@code D}-wide group of channels (one head) of
     * token {@code n} has its pairs {@code (2i, 2i+1)} rotated with {@code rope.sin[n]}, {@code rope.cos[n]}:
     * {@code y2i = x2i·cos2i − x2i+1·sin2i}, {@code y2i+1 = x2i+1·cos2i+1 + x2i·sin2i+1}.
     */
    void rope(Tensor x, RopeTables rope, Tensor y);

    /** The transpose of {@link #rope}: rotation by the opposite angles. */
    void ropeBackward(Tensor dy, RopeTables rope, Tensor dx);

    // ================================================================ elementwise and reductions

    /** {@code out = a + b}, with {@code b} broadcast to {@code a}'s shape (numpy rules). {@code out} may be {@code a}. */
    void add(Tensor a, Tensor b, Tensor out);

    /** {@code out = a ⊙ b}, with {@code b} broadcast to {@code a}'s shape. {@code out} may be {@code a}. */
    void mul(Tensor a, Tensor b, Tensor out);

    /** {@code y = alpha · x}. */
    void scale(Tensor x, float alpha, Tensor y);

    /** {@code y += alpha · x}. */
    void addScaled(Tensor x, float alpha, Tensor y);

    /**
     * Sums {@code x} over the dimensions in which {@code out}'s shape broadcasts to it (the backward of a
     * broadcast): {@code out = Σ x} or, with {@code accumulate}, {@code out += Σ x}.
     */
    void sumTo(Tensor x, Tensor out, boolean accumulate);

    /** {@link #sumTo} of {@code a ⊙ b} without materialising the product (gradient of a broadcast multiply). */
    void mulSumTo(Tensor a, Tensor b, Tensor out, boolean accumulate);

    /** Global average pool {@code x (B,H,W,C) → y (B,C)}. */
    void avgPool(Tensor x, Tensor y);

    void avgPoolBackward(Tensor dy, Tensor dx);

    /**
     * Soft-target cross-entropy {@code mean_b Σ_c −t_bc · log_softmax(logits_b)_c} over {@code (B, K)}; label
     * smoothing and Mixup are expressed in the targets. Writes {@code d loss / d logits} into
     * {@code dLogits} when not null. Non-finite logits or targets fail with an {@link ArithmeticException}.
     */
    double crossEntropy(Tensor logits, Tensor targets, Tensor dLogits);

    /** {@code Σ x²} in double; NaN or infinity when {@code x} holds one. */
    double sumOfSquares(Tensor x);

    // ================================================================ optimiser

    /**
     * One AdamW step in place, exactly as PyTorch's single-tensor AdamW (amsgrad off) orders it:
     * {@code p ← p·(1 − lr·wd)}; {@code m ← β1·m + (1−β1)·g}; {@code v ← β2·v + (1−β2)·g²};
     * {@code p ← p − (lr / (1−β1^step)) · m / (sqrt(v)/sqrt(1−β2^step) + eps)}. {@code step} counts from 1.
     */
    void adamW(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps,
               float weightDecay, long step);

    // ================================================================ attention cores

    LinearAttention linearAttention();

    SoftmaxAttention softmaxAttention();
}
