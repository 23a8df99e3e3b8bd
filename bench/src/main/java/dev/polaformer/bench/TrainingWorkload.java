package dev.polaformer.bench;

import dev.polaformer.model.Initializer;
import dev.polaformer.model.PolaFormer;
import dev.polaformer.model.Variant;
import dev.polaformer.numerics.Backend;
import dev.polaformer.train.AdamW;
import dev.polaformer.train.Ema;
import dev.polaformer.train.TrainConfig;
import dev.polaformer.train.TrainingStep;

import java.util.SplittableRandom;

/**
 * What the training benchmarks time: one iteration of a variant's official recipe (Mixup/CutMix, forward, loss,
 * backward, clipping, AdamW, EMA) at a chosen batch and image size, on noise images with fixed labels, from the
 * official random initialisation. Shared by the JMH benchmark, the op profile and the device benchmark, and free of
 * JMH so that the last can run without it on its class path.
 */
final class TrainingWorkload implements AutoCloseable {
    private final int batch;
    private final PolaFormer model;
    private final AdamW optimizer;
    private final Ema ema;
    private final TrainingStep step;
    private final float[] images, scratch;
    private final int[] labels;
    private long iteration;

    TrainingWorkload(Backend backend, Variant v, int batch, int size) {
        this.batch = batch;
        TrainConfig o = TrainConfig.official(v);
        TrainConfig c = new TrainConfig(v, 1000, size, o.epochs(), o.warmupEpochs(), o.cooldownEpochs(), batch,
                o.baseLr(), o.warmupLr(), o.minLr(), o.weightDecay(), o.clipGrad(), o.labelSmoothing(), o.mixupAlpha(),
                o.cutmixAlpha(), o.mixupProb(), o.mixupSwitchProb(), o.dropPath(), o.emaDecay(), o.randAugment(),
                o.reprob(), o.scaleMin(), 0, 2);
        model = new PolaFormer(backend, v, 1000, c.dropPath());
        Initializer.initialize(model, 1);
        optimizer = new AdamW(backend, model.namedParameters(), c.weightDecay());
        ema = new Ema(model, c.emaDecay());
        step = new TrainingStep(c, model, optimizer, ema);
        images = noise(3, batch * size * size * 3);
        scratch = new float[images.length];
        labels = new int[batch];
        for (int i = 0; i < batch; i++) labels[i] = (i * 37) % 1000;
    }

    int batch() {
        return batch;
    }

    /** One training iteration; returns its loss, whose read-back also waits for an asynchronous backend. */
    double run() {
        System.arraycopy(images, 0, scratch, 0, images.length);  // Mixup mixes in place
        return step.run(scratch, labels, batch, iteration++, 1e-4).loss();
    }

    @Override
    public void close() {
        optimizer.close();
        ema.close();
        model.close();
    }

    /** Uniform noise in [−2, 2): stands in for normalised images. */
    static float[] noise(long seed, int n) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (4 * r.nextDouble() - 2);
        return a;
    }
}
