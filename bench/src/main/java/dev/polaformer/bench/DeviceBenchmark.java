package dev.polaformer.bench;

import dev.polaformer.model.InferencePlan;
import dev.polaformer.model.Initializer;
import dev.polaformer.model.PolaFormer;
import dev.polaformer.model.Variant;
import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.Backends;
import dev.polaformer.numerics.RopeTables;
import dev.polaformer.numerics.Tensor;

import java.lang.reflect.Method;
import java.util.Locale;

/**
 * The GPU benchmarks of the CUDA issue, on whatever backend {@code -Dpolaformer.backend} selects, as a plain main
 * (the GPU machine has no Maven): b0, b2 and b5 training throughput, b0 inference at a large batch and at batch 1,
 * the polarity-aware linear attention core forward + backward at b2's stage-1 size, and the peak device memory of
 * b0 training. Each result is printed as one {@code RESULT <name> <value> <unit>} line that
 * {@code scripts/gpu-check.sh} turns into its summary table.
 *
 * <p>Timing: one warm-up call, then calls until {@code --seconds} have passed (at least {@code --min-iters});
 * the backend is synchronised before the clock stops (a loss or an output element read back does that).
 * {@code --quick} shrinks every batch and the image size so the harness itself can be checked on a CPU.
 * A benchmark that fails (e.g. out of device memory) prints {@code RESULT <name> FAILED <reason>} and the rest go on.
 */
public final class DeviceBenchmark {
    private final Backend backend;
    private final boolean quick;
    private final double seconds;
    private final int minIters;

    private DeviceBenchmark(Backend backend, boolean quick, double seconds, int minIters) {
        this.backend = backend;
        this.quick = quick;
        this.seconds = seconds;
        this.minIters = minIters;
    }

    public static void main(String[] args) {
        boolean quick = false;
        double seconds = 10;
        int minIters = 3;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--quick" -> quick = true;
                case "--seconds" -> seconds = Double.parseDouble(args[++i]);
                case "--min-iters" -> minIters = Integer.parseInt(args[++i]);
                default -> throw new IllegalArgumentException("unknown argument " + args[i]
                        + " (known: --quick, --seconds S, --min-iters N)");
            }
        }
        Backend backend = Backends.get();
        System.out.println("backend: " + backend.id() + ", " + backend.describe());
        DeviceBenchmark b = new DeviceBenchmark(backend, quick, seconds, minIters);
        b.guard("b0_train_batch128_img_per_s", () -> b.training("b0", 128));
        b.guard("b0_train_peak_device_memory_GiB", b::peakMemoryOfLastTraining);
        b.guard("b2_train_batch128_img_per_s", () -> b.training("b2", 128));
        b.guard("b5_train_batch64_img_per_s", () -> b.training("b5", 64));
        b.guard("b0_infer_batch256_img_per_s", () -> b.inference(256));
        b.guard("b0_infer_batch1_ms", () -> b.inferenceLatency());
        b.guard("attention_b2_stage1_fwd_bwd_ms", b::attention);
        b.guard("oom_then_smaller_batch", b::outOfMemoryRecovery);
    }

    private interface Measure {
        String run() throws Exception;
    }

    private void guard(String name, Measure m) {
        try {
            System.out.println("RESULT " + name + " " + m.run());
        } catch (Throwable e) { // report and go on: one failing benchmark must not hide the others
            String why = String.valueOf(e.getMessage()).lines().findFirst().orElse("") ;
            System.out.println("RESULT " + name + " FAILED " + e.getClass().getSimpleName() + ": " + why);
            backend.trim();
        }
    }

    private int batch(int full) {
        return quick ? Math.max(2, full / 64) : full;  // even: Mixup pairs each image with the batch reversed
    }

    private int size() {
        return quick ? 64 : 224;
    }

    private String peakAfterTraining = "n/a";

    private String training(String variant, int fullBatch) throws Exception {
        int batch = batch(fullBatch), size = size();
        Variant v = Variant.of(variant);
        backend.trim();
        resetPeak();
        try (TrainingWorkload workload = new TrainingWorkload(backend, v, batch, size)) {
            double perCall = time(workload::run);  // the loss read back synchronises
            peakAfterTraining = variant.equals("b0") ? peak() : peakAfterTraining;
            return fmt(batch / perCall) + " img/s (batch " + batch + ", " + size + "px)";
        }
    }

    private String peakMemoryOfLastTraining() {
        return peakAfterTraining;
    }

    private String inference(int fullBatch) throws Exception {
        int batch = batch(fullBatch), size = size();
        double perCall = timeInference(batch, size);
        return fmt(batch / perCall) + " img/s (batch " + batch + ", " + size + "px)";
    }

    private String inferenceLatency() throws Exception {
        int size = size();
        return fmt(timeInference(1, size) * 1e3) + " ms (batch 1, " + size + "px)";
    }

    /** Seconds per call of b0 through an {@link InferencePlan}, the path {@code Predictor} runs. */
    private double timeInference(int batch, int size) {
        try (PolaFormer model = new PolaFormer(backend, Variant.of("b0"), 1000)) {
            Initializer.initialize(model, 1);
            try (InferencePlan plan = InferencePlan.of(model)) {
                float[] images = TrainingWorkload.noise(2, batch * size * size * 3), logits = new float[batch * 1000];
                return time(() -> plan.logits(images, batch, size, size, logits)); // reading logits back synchronises
            }
        }
    }

    /**
     * A deliberately oversized b0 training batch (2048 at 224 px needs far more than any card's memory) must raise
     * the backend's out-of-memory exception, and the same JVM must then train the next, smaller batch.
     */
    private String outOfMemoryRecovery() {
        int huge = batch(2048), small = batch(64), size = size();
        String raised;
        try (TrainingWorkload w = new TrainingWorkload(backend, Variant.B0, huge, size)) {
            w.run();
            raised = "batch " + huge + " trained without error (nothing to recover from)";
        } catch (RuntimeException e) {
            raised = "batch " + huge + " raised " + e.getClass().getSimpleName() + " ("
                    + String.valueOf(e.getMessage()).lines().findFirst().orElse("") + ")";
        }
        backend.trim();
        try (TrainingWorkload w = new TrainingWorkload(backend, Variant.B0, small, size)) {
            double loss = w.run();
            return raised + "; then batch " + small + " trained, loss " + fmt(loss);
        }
    }

    /** The linear attention core at b2's stage-1 size: batch 128, 56×56 tokens, 64 channels, b2's stage-1 heads. */
    private String attention() throws Exception {
        int batch = batch(128), side = quick ? 28 : 56, n = side * side, c = Variant.B2.dim(0), heads = Variant.B2.heads(0);
        int d = c / heads;
        float[] noise = TrainingWorkload.noise(5, batch * n * c);
        for (int i = 0; i < noise.length; i++) noise[i] *= 0.5f;
        try (Tensor q = backend.fromArray(noise, batch, n, c); Tensor k = backend.fromArray(noise, batch, n, c);
             Tensor v = backend.fromArray(noise, batch, n, c); Tensor out = backend.empty(batch, n, c);
             Tensor dOut = backend.fromArray(noise, batch, n, c); Tensor dq = backend.empty(batch, n, c);
             Tensor dk = backend.empty(batch, n, c); Tensor dv = backend.empty(batch, n, c);
             Tensor s1 = backend.zeros(1, heads, 1, 2 * d); Tensor s2 = backend.zeros(1, heads, 1, 2 * d);
             Tensor ds1 = backend.zeros(1, heads, 1, 2 * d); Tensor ds2 = backend.zeros(1, heads, 1, 2 * d);
             RopeTables rope = new RopeTables(backend.zeros(n, 2 * d), backend.zeros(n, 2 * d))) {
            double perCall = time(() -> {
                backend.linearAttention().forward(q, k, v, heads, s1, s2, rope, out);
                backend.linearAttention().backward(q, k, v, heads, s1, s2, rope, dOut, dq, dk, dv, ds1, ds2);
                ds1.toArray(); // a few floats back: synchronises
            });
            return fmt(perCall * 1e3) + " ms (batch " + batch + ", " + side + "x" + side + ", " + c + " ch, " + heads
                    + " head" + (heads == 1 ? "" : "s") + ")";
        }
    }

    /** Seconds per call: one warm-up, then until the time budget and the minimum count are both reached. */
    private double time(Runnable call) {
        call.run();
        long start = System.nanoTime();
        int iters = 0;
        do {
            call.run();
            iters++;
        } while (iters < minIters || (System.nanoTime() - start) / 1e9 < seconds);
        return (System.nanoTime() - start) / 1e9 / iters;
    }

    // The pool statistics are cuda-only; reached by reflection so bench compiles against numerics alone.
    private void resetPeak() throws Exception {
        Method m = method("resetPeakMemory");
        if (m != null) m.invoke(backend);
    }

    private String peak() throws Exception {
        Method m = method("memoryStatistics");
        if (m == null) return "n/a (" + backend.id() + " keeps no device pool)";
        long[] s = (long[]) m.invoke(backend);
        return fmt(s[3] / 1073741824.0) + " GiB reserved at peak (" + fmt(s[2] / 1073741824.0) + " GiB in use)";
    }

    private Method method(String name) {
        try {
            return backend.getClass().getMethod(name);
        } catch (NoSuchMethodException e) {
            return null;
        }
    }

    private static String fmt(double v) {
        return String.format(Locale.ROOT, v >= 100 ? "%.0f" : "%.3g", v);
    }
}
