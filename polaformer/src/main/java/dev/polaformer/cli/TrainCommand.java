package dev.polaformer.cli;

import dev.polaformer.data.Dataset;
import dev.polaformer.io.Json;
import dev.polaformer.model.Variant;
import dev.polaformer.numerics.Backend;
import dev.polaformer.train.Progress;
import dev.polaformer.train.TrainConfig;
import dev.polaformer.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.StringReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Callable;

@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Trains a PolaFormer++ model with the official recipe (spec §5) or the 'small' recipe for small datasets.",
                "Settings come from the recipe, then --config FILE (.json or .properties, keys as in the checkpoint's config,",
                "e.g. batch_size=64), then the options below. Ctrl-C saves a checkpoint; --resume continues exactly."})
final class TrainCommand implements Callable<Integer> {
    @Option(names = "--data", defaultValue = DataChoice.SUBSET,
            description = "fashion-mnist-subset (bundled), fashion-mnist (Debian dataset-fashion-mnist), or a folder with train/ and val/ (default: ${DEFAULT-VALUE}).")
    String data;

    @Option(names = {"-o", "--output"}, defaultValue = "runs/train", description = "Output directory (default: ${DEFAULT-VALUE}).")
    Path output;

    @Option(names = "--resume", description = "Continue from OUTPUT/checkpoint.safetensors.") boolean resume;

    @Option(names = "--recipe", defaultValue = "official", description = "official | small (default: ${DEFAULT-VALUE}).")
    String recipe;

    @Option(names = "--config", description = "A .json or .properties file of settings.") Path configFile;

    @Option(names = "--variant") String variant;
    @Option(names = "--size", description = "Image side in pixels, a multiple of 32.") Integer size;
    @Option(names = "--epochs") Integer epochs;
    @Option(names = "--warmup-epochs") Integer warmupEpochs;
    @Option(names = "--cooldown-epochs") Integer cooldownEpochs;
    @Option(names = "--batch") Integer batch;
    @Option(names = "--lr", description = "Base learning rate (scaled by batch/512 as official).") Double lr;
    @Option(names = "--warmup-lr") Double warmupLr;
    @Option(names = "--min-lr") Double minLr;
    @Option(names = "--weight-decay") Double weightDecay;
    @Option(names = "--clip-grad", description = "Max global gradient norm, or 'none'.") String clipGrad;
    @Option(names = "--smoothing") Double smoothing;
    @Option(names = "--mixup") Double mixup;
    @Option(names = "--cutmix") Double cutmix;
    @Option(names = "--mixup-prob") Double mixupProb;
    @Option(names = "--mixup-switch-prob") Double mixupSwitchProb;
    @Option(names = "--drop-path") Double dropPath;
    @Option(names = "--ema-decay", description = "0 turns the EMA off.") Double emaDecay;
    @Option(names = "--rand-augment", description = "timm policy, or none.") String randAugment;
    @Option(names = "--reprob", description = "Random-erasing probability.") Double reprob;
    @Option(names = "--scale-min", description = "Smallest random-resized-crop area fraction.") Double scaleMin;
    @Option(names = "--seed") Long seed;
    @Option(names = "--workers", description = "Data loading threads.") Integer workers;
    @Option(names = "--eval-batch", defaultValue = "64") int evalBatch;
    @Option(names = "--max-steps", hidden = true, defaultValue = "0") long maxSteps;

    @Mixin
    Common common;

    @Override
    public Integer call() throws Exception {
        Backend backend = common.backend();
        Dataset trainSet = DataChoice.open(data, "train"), valSet = DataChoice.open(data, "val");
        TrainConfig cfg = resolve(trainSet.numClasses());
        System.out.println("training " + cfg.variant() + " at " + cfg.imageSize() + "×" + cfg.imageSize() + " on " + data + " ("
                + trainSet.size() + " train / " + valSet.size() + " validation images, " + trainSet.numClasses()
                + " classes) with " + backend.id() + " (" + backend.describe() + ")");
        System.out.println("settings: " + cfg.json());
        try (Trainer t = new Trainer(cfg, trainSet, valSet, backend, new Trainer.Options(output, resume, maxSteps,
                evalBatch, 4, System.out, Progress.forStderr()))) {
            var outcome = t.run();
            if (outcome.finished()) {
                System.out.println("done: weights in " + output.resolve("model.safetensors")
                        + (cfg.emaDecay() > 0 ? " and " + output.resolve("model_ema.safetensors") : "")
                        + "; metrics in " + output.resolve("metrics.jsonl") + ", curves in " + output.resolve("curves.png"));
            }
        }
        return 0;
    }

    /** Recipe, then config file, then command-line options. */
    TrainConfig resolve(int classes) throws IOException {
        Variant v = Variant.of(variant != null ? variant : "b0");
        Map<String, Object> m = new LinkedHashMap<>(switch (recipe) {
            case "official" -> TrainConfig.official(v).toJson();
            case "small" -> Recipes.small(v, 32).toJson();
            default -> throw new IllegalArgumentException("--recipe must be official or small, got " + recipe);
        });
        m.put("num_classes", classes);
        if (configFile != null) m.putAll(readConfig(configFile));
        put(m, "variant", variant);
        put(m, "image_size", size);
        put(m, "epochs", epochs);
        put(m, "warmup_epochs", warmupEpochs);
        put(m, "cooldown_epochs", cooldownEpochs);
        put(m, "batch_size", batch);
        put(m, "base_lr", lr);
        put(m, "warmup_lr", warmupLr);
        put(m, "min_lr", minLr);
        put(m, "weight_decay", weightDecay);
        if (clipGrad != null) m.put("clip_grad", clipGrad.equalsIgnoreCase("none") ? null : Double.parseDouble(clipGrad));
        put(m, "label_smoothing", smoothing);
        put(m, "mixup", mixup);
        put(m, "cutmix", cutmix);
        put(m, "mixup_prob", mixupProb);
        put(m, "mixup_switch_prob", mixupSwitchProb);
        put(m, "drop_path", dropPath);
        put(m, "ema_decay", emaDecay);
        put(m, "rand_augment", randAugment);
        put(m, "reprob", reprob);
        put(m, "scale_min", scaleMin);
        put(m, "seed", seed);
        put(m, "workers", workers);
        try {
            return TrainConfig.fromJson(m);
        } catch (ClassCastException | NullPointerException e) {
            throw new IllegalArgumentException("invalid training settings " + m + ": " + e.getMessage(), e);
        }
    }

    private static void put(Map<String, Object> m, String key, Object value) {
        if (value != null) m.put(key, value);
    }

    /** A JSON object, or properties whose values are parsed as numbers where they look like numbers. */
    static Map<String, Object> readConfig(Path file) throws IOException {
        String text = Files.readString(file);
        if (text.stripLeading().startsWith("{")) return Json.parseObject(text);
        Properties p = new Properties();
        p.load(new StringReader(text));
        Map<String, Object> m = new LinkedHashMap<>();
        for (String k : p.stringPropertyNames()) {
            String v = p.getProperty(k).trim();
            Object value = v;
            if (v.equalsIgnoreCase("none") || v.equalsIgnoreCase("null")) value = null;
            else if (v.matches("[-+]?\\d+")) value = Long.parseLong(v);
            else if (v.matches("[-+]?[\\d.]+([eE][-+]?\\d+)?")) value = Double.parseDouble(v);
            m.put(k.trim(), value);
        }
        return m;
    }
}
