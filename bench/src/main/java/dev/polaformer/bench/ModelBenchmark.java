package dev.polaformer.bench;

import dev.polaformer.model.InferencePlan;
import dev.polaformer.model.Initializer;
import dev.polaformer.model.PolaFormer;
import dev.polaformer.model.Variant;
import dev.polaformer.numerics.cpu.CpuBackend;
import dev.polaformer.train.AdamW;
import dev.polaformer.train.Ema;
import dev.polaformer.train.TrainConfig;
import dev.polaformer.train.TrainingStep;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

import java.util.concurrent.TimeUnit;

/**
 * Whole-model timings on the {@code cpu} backend with random (officially initialised) weights: the forward pass
 * (inference, evaluation mode) and one training iteration of the official recipe (Mixup/CutMix, train-mode
 * forward, loss, backward, clipping, AdamW, EMA). Run through {@link ModelReport}.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class ModelBenchmark {

    @State(Scope.Benchmark)
    public static class Inference {
        @Param({"b0"}) public String variant;
        @Param({"1"}) public int batch;
        @Param({"2"}) public int threads;
        @Param({"224"}) public int size;

        CpuBackend backend;
        PolaFormer model;
        InferencePlan plan;
        float[] images, logits;

        @Setup(Level.Trial)
        public void setup() {
            backend = new CpuBackend(threads);
            model = new PolaFormer(backend, Variant.of(variant), 1000);
            Initializer.initialize(model, 1);
            plan = InferencePlan.of(model);
            images = noise(2, batch * size * size * 3);
            logits = new float[batch * 1000];
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            plan.close();
            model.close();
        }
    }

    @Benchmark
    public float forward(Inference s) {
        // the inference path of Predictor: prepared weights, planned memory
        s.plan.logits(s.images, s.batch, s.size, s.size, s.logits);
        return s.logits[0];
    }

    /** Uniform noise in [−2, 2): stands in for normalised images. */
    static float[] noise(long seed, int n) {
        java.util.SplittableRandom r = new java.util.SplittableRandom(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (4 * r.nextDouble() - 2);
        return a;
    }

    @State(Scope.Benchmark)
    public static class Training {
        @Param({"b0"}) public String variant;
        @Param({"8"}) public int batch;
        @Param({"2"}) public int threads;
        @Param({"224"}) public int size;

        CpuBackend backend;
        PolaFormer model;
        AdamW optimizer;
        Ema ema;
        TrainingStep step;
        float[] images, scratch;
        int[] labels;
        long iteration;

        @Setup(Level.Trial)
        public void setup() {
            backend = new CpuBackend(threads);
            Variant v = Variant.of(variant);
            TrainConfig official = TrainConfig.official(v);
            TrainConfig c = new TrainConfig(v, 1000, size, official.epochs(), official.warmupEpochs(),
                    official.cooldownEpochs(), batch, official.baseLr(), official.warmupLr(), official.minLr(),
                    official.weightDecay(), official.clipGrad(), official.labelSmoothing(), official.mixupAlpha(),
                    official.cutmixAlpha(), official.mixupProb(), official.mixupSwitchProb(), official.dropPath(),
                    official.emaDecay(), official.randAugment(), official.reprob(), official.scaleMin(), 0, 2);
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

        @TearDown(Level.Trial)
        public void tearDown() {
            optimizer.close();
            ema.close();
            model.close();
        }
    }

    @Benchmark
    public double trainStep(Training s) {
        System.arraycopy(s.images, 0, s.scratch, 0, s.images.length);  // Mixup mixes in place
        return s.step.run(s.scratch, s.labels, s.batch, s.iteration++, 1e-4).loss();
    }
}
