package dev.polaformer.train;

import dev.polaformer.data.Rng;
import dev.polaformer.model.Parameter;
import dev.polaformer.model.Pass;
import dev.polaformer.model.PolaFormer;
import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.Tensor;

import java.util.Map;

/**
 * One iteration of the official recipe on a batch: Mixup/CutMix with label smoothing, forward in train mode,
 * soft-target cross-entropy, backward, global-norm clipping, AdamW, EMA. The random choices of iteration
 * {@code step} come from {@link Rng} streams of the seed, so the same step always draws the same.
 */
public final class TrainingStep {
    /** Random streams: each kind of random choice has its own, so changing one never shifts another. */
    static final long STREAM_MIXUP = 1, STREAM_DROP_PATH = 2;

    public record Result(double loss, double gradNorm) {}

    private final TrainConfig config;
    private final PolaFormer model;
    private final AdamW optimizer;
    private final Ema ema;
    private final Mixup mixup;
    private final Map<String, Parameter> params;

    public TrainingStep(TrainConfig config, PolaFormer model, AdamW optimizer, Ema ema) {
        this.config = config;
        this.model = model;
        this.optimizer = optimizer;
        this.ema = ema;
        this.mixup = Mixup.of(config);
        this.params = model.namedParameters();
    }

    /**
     * Trains on {@code n} channels-last images (mixed in place) with learning rate {@code lr}.
     *
     * @throws ArithmeticException when the loss or a gradient is not finite (nothing has been updated then)
     */
    public Result run(float[] images, int[] labels, int n, long step, double lr) {
        Backend backend = model.backend();
        int side = config.imageSize(), k = config.numClasses();
        Mixup.Decision d = mixup.decide(Rng.of(config.seed(), STREAM_MIXUP, step), side, side);
        float[] targets = mixup.apply(d, images, n, side, side, 3, labels);
        double loss;
        try (Pass pass = Pass.withGradients(backend, true, Rng.of(config.seed(), STREAM_DROP_PATH, step).nextLong())) {
            Tensor x = pass.empty(n, side, side, 3);
            x.storage().write(x.offset(), images, 0, x.size());
            Tensor logits = model.forward(x, pass);
            Tensor t = pass.empty(n, k);
            t.storage().write(t.offset(), targets, 0, targets.length);
            Tensor dLogits = pass.empty(n, k);
            try {
                loss = backend.crossEntropy(logits, t, dLogits);
            } catch (ArithmeticException e) {
                throw new ArithmeticException("the loss is not finite (" + e.getMessage() + ")");
            }
            model.zeroGrad();
            model.backward(dLogits, pass);
        }
        double norm = GradientClipping.clip(backend, params, config.clipGrad());
        optimizer.step(lr);
        if (ema != null) ema.update(model);
        return new Result(loss, norm);
    }
}
