package dev.polaformer.cli;

import dev.polaformer.model.Variant;
import dev.polaformer.train.TrainConfig;

/** Settings besides the official ImageNet recipe. */
final class Recipes {
    private Recipes() {}

    /**
     * For small, low-resolution datasets such as Fashion-MNIST: the official optimiser and schedule shape, but
     * a short warmup, a larger learning rate for the small batch, light augmentation (crop and flip; no
     * RandAugment, Mixup or erasing, which slow learning on 28-pixel images), a faster EMA.
     */
    static TrainConfig small(Variant v, int size) {
        return new TrainConfig(v, 10, size, 10, 1, 0, 64, 2e-3, 1e-5, 1e-5, 0.05, 5.0,
                0.1, 0, 0, 1.0, 0.5, 0.05, 0.998, "none", 0, 0.35, 0, 2);
    }
}
