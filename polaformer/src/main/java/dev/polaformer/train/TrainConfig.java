package dev.polaformer.train;

import dev.polaformer.io.Json;
import dev.polaformer.model.Variant;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Every training hyper-parameter. {@link #official(Variant)} gives the official recipe of a variant
 * (spec §5: config.py defaults overridden by cfgs/pola_b*.yaml and pretrain.sh); every value can be changed.
 *
 * @param batchSize      images per step (the official per-GPU batch; there is one process here)
 * @param baseLr         before linear scaling: the learning rate used is {@code baseLr · batchSize / 512}, as are
 *                       {@code warmupLr} and {@code minLr} (official)
 * @param clipGrad       maximum global gradient norm, or NaN for no clipping
 * @param emaDecay       model EMA decay per step, 0 for no EMA
 * @param randAugment    timm policy string, or "none"
 * @param reprob         random-erasing probability
 */
public record TrainConfig(Variant variant, int numClasses, int imageSize, int epochs, int warmupEpochs,
                          int cooldownEpochs, int batchSize, double baseLr, double warmupLr, double minLr,
                          double weightDecay, double clipGrad, double labelSmoothing, double mixupAlpha,
                          double cutmixAlpha, double mixupProb, double mixupSwitchProb, double dropPath,
                          double emaDecay, String randAugment, double reprob, double scaleMin, long seed,
                          int workers) {

    public TrainConfig {
        if (epochs < 1 || batchSize < 1 || imageSize < 32 || imageSize % 32 != 0 || numClasses < 1) {
            throw new IllegalArgumentException("invalid training setting: epochs " + epochs + ", batch " + batchSize
                    + ", image size " + imageSize + " (a positive multiple of 32), classes " + numClasses);
        }
        if ((mixupAlpha > 0 || cutmixAlpha > 0) && batchSize % 2 != 0) {
            throw new IllegalArgumentException("Mixup/CutMix pair each image with the batch reversed, so the batch size must be even, got " + batchSize);
        }
    }

    /** The official ImageNet-1k recipe of {@code v} at 224² with 1000 classes. */
    public static TrainConfig official(Variant v) {
        String n = v.name();
        int batch = switch (n) { case "b3", "b4" -> 128; case "b5" -> 64; default -> 256; };
        double baseLr = n.equals("b5") ? 2e-5 : 5e-4;
        double warmupLr = n.equals("b4") ? 1e-7 : 5e-7;
        double minLr = switch (n) { case "b4" -> 1e-5; case "b5" -> 5e-6; default -> 1e-7; };
        int warmup = switch (n) { case "b4" -> 5; case "b5" -> 1; default -> 20; };
        int cooldown = switch (n) { case "b4" -> 10; case "b5" -> 5; default -> 0; };
        double wd = n.equals("b5") ? 1e-8 : 0.05;
        double clip = switch (n) { case "b4" -> 1.0; case "b5" -> Double.NaN; default -> 5.0; };
        return new TrainConfig(v, 1000, 224, 300, warmup, cooldown, batch, baseLr, warmupLr, minLr, wd, clip,
                0.1, 0.8, 1.0, 1.0, 0.5, v.dropPathRate(), 0.99982, "rand-m9-mstd0.5-inc1", 0.25, 0.08, 0, 2);
    }

    /** The learning rates actually used: {@code [peak, warmup start, minimum]}, each scaled by {@code batch/512}. */
    public double scaledLr() {
        return baseLr * batchSize / 512.0;
    }

    public double scaledWarmupLr() {
        return warmupLr * batchSize / 512.0;
    }

    public double scaledMinLr() {
        return minLr * batchSize / 512.0;
    }

    public boolean mixes() {
        return mixupAlpha > 0 || cutmixAlpha > 0;
    }

    public Map<String, Object> toJson() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("variant", variant.name());
        m.put("num_classes", numClasses);
        m.put("image_size", imageSize);
        m.put("epochs", epochs);
        m.put("warmup_epochs", warmupEpochs);
        m.put("cooldown_epochs", cooldownEpochs);
        m.put("batch_size", batchSize);
        m.put("base_lr", baseLr);
        m.put("warmup_lr", warmupLr);
        m.put("min_lr", minLr);
        m.put("weight_decay", weightDecay);
        m.put("clip_grad", Double.isNaN(clipGrad) ? null : clipGrad);
        m.put("label_smoothing", labelSmoothing);
        m.put("mixup", mixupAlpha);
        m.put("cutmix", cutmixAlpha);
        m.put("mixup_prob", mixupProb);
        m.put("mixup_switch_prob", mixupSwitchProb);
        m.put("drop_path", dropPath);
        m.put("ema_decay", emaDecay);
        m.put("rand_augment", randAugment);
        m.put("reprob", reprob);
        m.put("scale_min", scaleMin);
        m.put("seed", seed);
        m.put("workers", workers);
        return m;
    }

    public static TrainConfig fromJson(Map<String, Object> m) {
        java.util.function.Function<String, Double> d = k -> m.get(k) == null ? Double.NaN : ((Number) m.get(k)).doubleValue();
        java.util.function.Function<String, Integer> i = k -> ((Number) m.get(k)).intValue();
        return new TrainConfig(Variant.of((String) m.get("variant")), i.apply("num_classes"), i.apply("image_size"),
                i.apply("epochs"), i.apply("warmup_epochs"), i.apply("cooldown_epochs"), i.apply("batch_size"),
                d.apply("base_lr"), d.apply("warmup_lr"), d.apply("min_lr"), d.apply("weight_decay"), d.apply("clip_grad"),
                d.apply("label_smoothing"), d.apply("mixup"), d.apply("cutmix"), d.apply("mixup_prob"),
                d.apply("mixup_switch_prob"), d.apply("drop_path"), d.apply("ema_decay"), (String) m.get("rand_augment"),
                d.apply("reprob"), d.apply("scale_min"), ((Number) m.get("seed")).longValue(), i.apply("workers"));
    }

    public String json() {
        return Json.write(toJson());
    }
}
