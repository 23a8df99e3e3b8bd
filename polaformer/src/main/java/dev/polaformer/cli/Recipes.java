package dev.polaformer.cli;

import dev.polaformer.model.Variant;
import dev.polaformer.train.TrainConfig;

/** Settings besides the official ImageNet recipe. */
final class Recipes {
    private Recipes() {}

    /**
     * For short runs on small, low-resolution datasets such as Fashion-MNIST: the official optimiser (AdamW, weight
     * decay 0.05, clipping 5, label smoothing 0.1) and cosine schedule, but no warmup, a larger learning rate
     * (1.6e-2 · 64/512 = 2e-3), light augmentation (crops of at least 75% of the image and flips; RandAugment,
     * Mixup, erasing and stochastic depth slow learning on 28-pixel images in a few epochs) and a faster EMA.
     * Measured on the bundled subset, b0 at 32 px: 79% held-out accuracy after 3 epochs.
     */
    static TrainConfig small(Variant v, int size) {
        return new TrainConfig(v, 10, size, 3, 0, 0, 64, 1.6e-2, 1e-5, 1e-5, 0.05, 5.0,
                0.1, 0, 0, 1.0, 0.5, 0, 0.99, "none", 0, 0.75, 0, 2);
    }
}
