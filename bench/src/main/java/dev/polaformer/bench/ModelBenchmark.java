package dev.polaformer.bench;

import dev.polaformer.model.InferencePlan;
import dev.polaformer.model.Initializer;
import dev.polaformer.model.PolaFormer;
import dev.polaformer.model.Variant;
import dev.polaformer.numerics.cpu.CpuBackend;
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
            images = TrainingWorkload.noise(2, batch * size * size * 3);
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

    @State(Scope.Benchmark)
    public static class Training {
        @Param({"b0"}) public String variant;
        @Param({"8"}) public int batch;
        @Param({"2"}) public int threads;
        @Param({"224"}) public int size;

        CpuBackend backend;
        TrainingWorkload workload;

        @Setup(Level.Trial)
        public void setup() {
            backend = new CpuBackend(threads);
            workload = new TrainingWorkload(backend, Variant.of(variant), batch, size);
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            workload.close();
        }
    }

    @Benchmark
    public double trainStep(Training s) {
        return s.workload.run();
    }
}
