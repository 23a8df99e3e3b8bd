package dev.polaformer.cli;

import dev.polaformer.data.Dataset;
import dev.polaformer.data.EvalTransform;
import dev.polaformer.data.FashionMnist;
import dev.polaformer.infer.Preprocess;
import dev.polaformer.model.Pass;
import dev.polaformer.model.PolaFormer;
import dev.polaformer.model.Variant;
import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.Tensor;
import dev.polaformer.train.Evaluator;
import dev.polaformer.train.Progress;
import dev.polaformer.train.TrainConfig;
import dev.polaformer.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Locale;
import java.util.concurrent.Callable;

@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {"The main job in one command: trains PolaFormer++ b0 (32×32 input) on the Fashion-MNIST subset bundled",
                "in the jar (8,000 training images), then classifies the 2,000 held-out test images and prints the accuracy",
                "and a few predictions. Takes about two and a half minutes on two cores."})
final class DemoCommand implements Callable<Integer> {
    @Option(names = "--epochs", defaultValue = "3", description = "Training epochs (default: ${DEFAULT-VALUE}).")
    int epochs;

    @Option(names = {"-o", "--output"}, description = "Run directory (default: runs/demo-<time>).")
    Path output;

    @Option(names = "--show", defaultValue = "8", description = "Held-out images to show with their predictions (default: ${DEFAULT-VALUE}).")
    int show;

    @Mixin
    Common common;

    @Override
    public Integer call() throws Exception {
        Backend backend = common.backend();
        Path out = output != null ? output
                : Path.of("runs", "demo-" + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
        Dataset train = FashionMnist.bundled("train"), test = FashionMnist.bundled("test");
        TrainConfig base = Recipes.small(Variant.B0, 32);
        TrainConfig cfg = new TrainConfig(base.variant(), train.numClasses(), base.imageSize(), epochs, base.warmupEpochs(),
                0, base.batchSize(), base.baseLr(), base.warmupLr(), base.minLr(), base.weightDecay(), base.clipGrad(),
                base.labelSmoothing(), base.mixupAlpha(), base.cutmixAlpha(), base.mixupProb(), base.mixupSwitchProb(),
                base.dropPath(), base.emaDecay(), base.randAugment(), base.reprob(), base.scaleMin(), base.seed(), base.workers());
        System.out.printf(Locale.ROOT, "PolaFormer++ demo: training %s at %d×%d px on %d bundled Fashion-MNIST images for %d epochs "
                        + "(%s: %s)%n", cfg.variant(), cfg.imageSize(), cfg.imageSize(), train.size(), epochs, backend.id(),
                backend.describe());
        long t0 = System.nanoTime();
        Evaluator.Result model, ema;
        try (Trainer trainer = new Trainer(cfg, train, test, backend, new Trainer.Options(out, false, 0, 100, 4,
                System.out, Progress.forStderr()))) {
            var outcome = trainer.run();
            model = outcome.lastEval();
            ema = outcome.lastEmaEval();
            double secs = (System.nanoTime() - t0) / 1e9;
            System.out.printf(Locale.ROOT, "%nheld-out accuracy on %d test images: %.2f%% (EMA weights %.2f%%), trained in %.0f s%n",
                    model.count(), model.top1(), ema == null ? Double.NaN : ema.top1(), secs);
            showPredictions(trainer.model(), test, cfg.imageSize());
        }
        System.out.println("weights, metrics and the loss/accuracy chart are in " + out.toAbsolutePath()
                + " (try: bin/polaformer classify -w " + out.resolve("model.safetensors") + " --size 32 IMAGE)");
        return 0;
    }

    private void showPredictions(PolaFormer m, Dataset test, int size) throws Exception {
        EvalTransform t = new EvalTransform(Preprocess.imagenet(size));
        int n = Math.min(show, test.size()), per = size * size * 3;
        float[] images = new float[n * per];
        for (int i = 0; i < n; i++) t.apply(test.image(i), null, images, i * per);
        float[] logits;
        try (Pass pass = Pass.inference(m.backend())) {
            Tensor x = pass.empty(n, size, size, 3);
            x.storage().write(x.offset(), images, 0, images.length);
            logits = m.forward(x, pass).toArray();
        }
        System.out.println("first held-out images:");
        for (int i = 0; i < n; i++) {
            int best = 0;
            for (int k = 1; k < m.numClasses; k++) if (logits[i * m.numClasses + k] > logits[i * m.numClasses + best]) best = k;
            String truth = test.classNames().get(test.label(i)), guess = test.classNames().get(best);
            System.out.printf("  %-24s true %-12s predicted %-12s %s%n", test.describe(i), truth, guess, truth.equals(guess) ? "✓" : "✗");
        }
    }
}
