package dev.polaformer.train;

import dev.polaformer.data.AugmentConfig;
import dev.polaformer.data.Batch;
import dev.polaformer.data.Dataset;
import dev.polaformer.data.EvalTransform;
import dev.polaformer.data.Loader;
import dev.polaformer.data.Rng;
import dev.polaformer.data.TrainTransform;
import dev.polaformer.data.Transform;
import dev.polaformer.infer.Preprocess;
import dev.polaformer.io.Json;
import dev.polaformer.io.SafetensorsFile;
import dev.polaformer.io.Weights;
import dev.polaformer.model.Initializer;
import dev.polaformer.model.PolaFormer;
import dev.polaformer.numerics.Backend;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * The official training loop (spec §5), one process: per iteration Mixup/CutMix with label smoothing,
 * forward in train mode (BatchNorm batch statistics, stochastic depth), soft-target cross-entropy, backward,
 * global-norm clipping, AdamW with the per-iteration cosine schedule, then the EMA update. After each epoch
 * the model and its EMA are validated, metrics and the chart are written and a checkpoint is saved atomically.
 *
 * <p>Every random choice comes from {@link Rng} coordinates (seed, stream, epoch or step, sample), so a
 * checkpoint needs no generator state and {@code --resume} continues exactly. Ctrl-C saves a checkpoint at the
 * next step boundary. A non-finite loss or gradient stops the run naming the step and the first parameter,
 * leaving the last good checkpoint in place.
 */
public final class Trainer implements AutoCloseable {
    /**
     * Whether curves.png can be drawn: a runtime without {@code java.desktop} (the GPU pack's) trains all the same,
     * and metrics.jsonl holds every number. Asked here, because loading {@link Chart} itself would need the module.
     */
    private static final boolean CAN_DRAW = ModuleLayer.boot().findModule("java.desktop").isPresent();

    /** The random stream of the initial weights (the others are {@link TrainingStep}'s). */
    static final long STREAM_INIT = 3;

    /**
     * @param output     directory for checkpoint.safetensors, metrics.jsonl, curves.png, model.safetensors
     * @param resume     continue from output/checkpoint.safetensors
     * @param maxSteps   stop (saving a checkpoint) after this many iterations in this run, for tests; 0 = no limit
     * @param evalBatch  batch size for validation
     */
    public record Options(Path output, boolean resume, long maxSteps, int evalBatch, int prefetch, PrintStream log,
                          Progress progress) {}

    private final TrainConfig config;
    private final Dataset train, val;
    private final Backend backend;
    private final Options options;
    private final PolaFormer model;
    private final Ema ema;
    private final AdamW optimizer;
    private final TrainingStep trainingStep;
    private final Transform trainTransform, evalTransform;
    private volatile boolean stopRequested;

    public Trainer(TrainConfig config, Dataset train, Dataset val, Backend backend, Options options) {
        if (train.numClasses() != config.numClasses()) {
            throw new IllegalArgumentException("the training set has " + train.numClasses() + " classes, the config says "
                    + config.numClasses());
        }
        this.config = config;
        this.train = train;
        this.val = val;
        this.backend = backend;
        this.options = options;
        this.model = new PolaFormer(backend, config.variant(), config.numClasses(), config.dropPath());
        Initializer.initialize(model, Rng.of(config.seed(), STREAM_INIT).nextLong());
        this.ema = config.emaDecay() > 0 ? new Ema(model, config.emaDecay()) : null;
        this.optimizer = new AdamW(backend, model.namedParameters(), config.weightDecay());
        this.trainingStep = new TrainingStep(config, model, optimizer, ema);
        AugmentConfig aug = new AugmentConfig(config.imageSize(), config.scaleMin(), 1.0, 3.0 / 4, 4.0 / 3, 0.5,
                config.randAugment(), config.reprob(), "pixel", Preprocess.IMAGENET_MEAN, Preprocess.IMAGENET_STD);
        this.trainTransform = new TrainTransform(aug);
        this.evalTransform = new EvalTransform(Preprocess.imagenet(config.imageSize()));
    }

    public PolaFormer model() {
        return model;
    }

    public Ema ema() {
        return ema;
    }

    /** Asks the loop to save a checkpoint and return at the next step boundary (Ctrl-C does this). */
    public void requestStop() {
        stopRequested = true;
    }

    public Path checkpointPath() {
        return options.output.resolve("checkpoint.safetensors");
    }

    /** What a run ended with. */
    public record Outcome(Checkpoint.Position position, boolean finished, Evaluator.Result lastEval, Evaluator.Result lastEmaEval) {}

    public Outcome run() throws IOException {
        Files.createDirectories(options.output);
        Checkpoint.Position pos = new Checkpoint.Position(0, 0, 0);
        Map<String, Object> best = new LinkedHashMap<>();
        if (options.resume) {
            try (SafetensorsFile f = SafetensorsFile.open(checkpointPath())) {
                Checkpoint.Header h = Checkpoint.header(f);
                if (!h.config().equals(config)) {
                    throw new IllegalArgumentException("the checkpoint " + checkpointPath() + " was written with another "
                            + "configuration:\n  checkpoint: " + h.config().json() + "\n  now:        " + config.json());
                }
                Checkpoint.restore(f, model, ema, optimizer);
                pos = h.position();
                best.putAll(h.extra());
            }
            options.log.println("resumed from " + checkpointPath() + " at epoch " + (pos.epoch() + 1) + ", batch " + pos.batch()
                    + " (iteration " + pos.step() + ")");
        } else if (Files.exists(checkpointPath())) {
            throw new IllegalArgumentException(options.output + " already holds a checkpoint; pass --resume to continue it, "
                    + "or choose another output directory");
        }
        int stepsPerEpoch = train.size() / config.batchSize();
        if (stepsPerEpoch < 1) {
            throw new IllegalArgumentException("the training set (" + train.size() + " images) is smaller than one batch of "
                    + config.batchSize());
        }
        LrSchedule schedule = LrSchedule.of(config, stepsPerEpoch);
        int totalEpochs = config.epochs() + config.cooldownEpochs();
        long stepsThisRun = 0;
        Evaluator.Result lastEval = null, lastEmaEval = null;
        CountDownLatch finished = new CountDownLatch(1);
        Thread hook = new Thread(() -> {
            stopRequested = true;
            try {
                finished.await(120, TimeUnit.SECONDS);
            } catch (InterruptedException ignored) {
                Thread.currentThread().interrupt();
            }
        }, "polaformer-train-stop");
        Runtime.getRuntime().addShutdownHook(hook);
        try (Metrics metrics = new Metrics(options.output.resolve("metrics.jsonl"))) {
            for (int epoch = pos.epoch(); epoch < totalEpochs; epoch++) {
                long epochStart = System.nanoTime();
                double lossSum = 0;
                int lossCount = 0;
                int startBatch = epoch == pos.epoch() ? pos.batch() : 0;
                options.progress.start(String.format("epoch %d/%d", epoch + 1, totalEpochs), stepsPerEpoch);
                try (Loader loader = new Loader(train, trainTransform, config.batchSize(), true, true, config.seed(), epoch,
                        startBatch, config.workers(), options.prefetch)) {
                    while (loader.hasNext()) {
                        Batch batch = loader.next();
                        long step = pos.step();
                        double lr = schedule.forIteration(step);
                        long t0 = System.nanoTime();
                        TrainingStep.Result r;
                        try {
                            r = trainingStep.run(batch.images(), batch.labels(), batch.count(), step, lr);
                        } catch (ArithmeticException e) {
                            throw diverged(step, epoch, batch, e.getMessage(), e);
                        }
                        double secs = (System.nanoTime() - t0) / 1e9;
                        lossSum += r.loss();
                        lossCount++;
                        pos = new Checkpoint.Position(epoch, batch.index() + 1, step + 1);
                        metrics.write(Metrics.record("step", "epoch", epoch, "step", step, "batch", batch.index(),
                                "steps_per_epoch", stepsPerEpoch, "loss", r.loss(), "lr", lr, "grad_norm", r.gradNorm(),
                                "img_per_s", batch.count() / secs));
                        options.progress.update(batch.index() + 1, batch.count(), r.loss(), lr);
                        stepsThisRun++;
                        if (stopRequested || (options.maxSteps > 0 && stepsThisRun >= options.maxSteps)) {
                            save(pos, best);
                            options.log.println((stopRequested ? "stopped" : "paused") + " at epoch " + (epoch + 1) + ", batch "
                                    + pos.batch() + " (iteration " + pos.step() + "); checkpoint saved to " + checkpointPath());
                            return new Outcome(pos, false, lastEval, lastEmaEval);
                        }
                    }
                    if (loader.skipped() > 0) options.log.println("skipped " + loader.skipped() + " unreadable images this epoch");
                }
                lastEval = val == null ? null : Evaluator.evaluate(model, val, evalTransform, options.evalBatch, config.workers(),
                        null, "validation");
                lastEmaEval = val == null || ema == null ? null : Evaluator.evaluate(ema.model(), val, evalTransform,
                        options.evalBatch, config.workers(), null, "validation (EMA)");
                pos = new Checkpoint.Position(epoch + 1, 0, pos.step());
                Map<String, Object> rec = Metrics.record("epoch", "epoch", epoch, "train_loss", lossSum / Math.max(1, lossCount),
                        "seconds", (System.nanoTime() - epochStart) / 1e9);
                if (lastEval != null) {
                    rec.put("val_loss", lastEval.loss());
                    rec.put("top1", lastEval.top1());
                    rec.put("top5", lastEval.top5());
                    best.merge("best_top1", lastEval.top1(), (a, b) -> Math.max(((Number) a).doubleValue(), ((Number) b).doubleValue()));
                }
                if (lastEmaEval != null) {
                    rec.put("ema_top1", lastEmaEval.top1());
                    rec.put("ema_top5", lastEmaEval.top5());
                    best.merge("best_ema_top1", lastEmaEval.top1(), (a, b) -> Math.max(((Number) a).doubleValue(), ((Number) b).doubleValue()));
                }
                metrics.write(rec);
                if (CAN_DRAW) Chart.write(metrics.path(), options.output.resolve("curves.png"));
                save(pos, best);
                options.log.printf(java.util.Locale.ROOT, "epoch %d/%d: train loss %.4f%s%s (%.0f s)%n", epoch + 1, totalEpochs,
                        lossSum / Math.max(1, lossCount),
                        lastEval == null ? "" : "; validation " + lastEval.describe(),
                        lastEmaEval == null ? "" : String.format(java.util.Locale.ROOT, "; EMA top-1 %.2f%%", lastEmaEval.top1()),
                        (System.nanoTime() - epochStart) / 1e9);
            }
            writeFinalWeights();
            return new Outcome(pos, true, lastEval, lastEmaEval);
        } finally {
            finished.countDown();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException ignored) {
                // the JVM is already shutting down (Ctrl-C): the hook is running and waits for us
            }
        }
    }

    private TrainingDivergedException diverged(long step, int epoch, Batch batch, String what, Throwable cause) {
        what += firstNonFinite();
        String kept = Files.exists(checkpointPath()) ? "the last good checkpoint is kept at " + checkpointPath()
                : "no checkpoint had been written yet";
        return new TrainingDivergedException(String.format("training diverged at iteration %d (epoch %d, batch %d): %s; %s",
                step, epoch + 1, batch.index(), what, kept), cause);
    }

    /** Names the first parameter (state-dict order) whose gradient, else whose value, is not finite. */
    private String firstNonFinite() {
        var params = model.namedParameters();
        for (var e : params.entrySet()) {
            var g = e.getValue().gradIfPresent();
            if (g != null && !Double.isFinite(backend.sumOfSquares(g))) return "; first parameter with a non-finite gradient: " + e.getKey();
        }
        for (var e : params.entrySet()) {
            if (!Double.isFinite(backend.sumOfSquares(e.getValue().value()))) return "; first parameter with a non-finite value: " + e.getKey();
        }
        return "";
    }

    private void save(Checkpoint.Position pos, Map<String, Object> extra) throws IOException {
        Checkpoint.save(checkpointPath(), config, pos, model, ema, optimizer, extra, train.classNames());
    }

    /** Plain weights for inference, with the class names: model.safetensors and, with EMA, model_ema.safetensors. */
    private void writeFinalWeights() throws IOException {
        Map<String, String> meta = Map.of("labels", Json.write(train.classNames()), "variant", config.variant().name(),
                "image_size", String.valueOf(config.imageSize()));
        Weights.save(model, options.output.resolve("model.safetensors"), meta);
        if (ema != null) Weights.save(ema.model(), options.output.resolve("model_ema.safetensors"), meta);
    }

    public List<String> classNames() {
        return train.classNames();
    }

    @Override
    public void close() {
        optimizer.close();
        if (ema != null) ema.close();
        model.close();
    }
}
