package dev.polaformer.data;

import dev.polaformer.infer.Preprocess;

import java.util.Arrays;

/**
 * The settings of {@link TrainTransform}, named after timm 0.4.12's {@code transforms_imagenet_train} arguments.
 *
 * @param size        output side in pixels
 * @param scaleMin    smallest crop area, as a fraction of the image (timm: 0.08)
 * @param scaleMax    largest crop area (1.0)
 * @param ratioMin    smallest crop aspect ratio width/height (3/4)
 * @param ratioMax    largest crop aspect ratio (4/3)
 * @param hflip       probability of a horizontal flip (0.5)
 * @param randAugment a timm RandAugment string such as {@code "rand-m9-mstd0.5-inc1"}, or null / "none"
 * @param reprob      RandomErasing probability (0.25); 0 disables it
 * @param remode      RandomErasing fill: "pixel" (per-pixel N(0,1)), "rand" (one N(0,1) colour per box) or "const" (0)
 * @param mean        per-channel mean for Normalize; also sets the fill colour of RandAugment's geometric ops
 * @param std         per-channel std for Normalize
 */
public record AugmentConfig(int size, double scaleMin, double scaleMax, double ratioMin, double ratioMax, double hflip,
                            String randAugment, double reprob, String remode, float[] mean, float[] std) {
    public AugmentConfig {
        if (size < 1) throw new IllegalArgumentException("output size " + size + " must be positive");
        if (!(scaleMin > 0 && scaleMin <= scaleMax)) {
            throw new IllegalArgumentException("crop scale range (" + scaleMin + ", " + scaleMax + ") must satisfy 0 < min <= max");
        }
        if (!(ratioMin > 0 && ratioMin <= ratioMax && Double.isFinite(ratioMax))) {
            throw new IllegalArgumentException("crop ratio range (" + ratioMin + ", " + ratioMax + ") must satisfy 0 < min <= max < inf");
        }
        if (!(hflip >= 0 && hflip <= 1)) throw new IllegalArgumentException("hflip probability " + hflip + " is outside [0, 1]");
        if (!(reprob >= 0 && reprob <= 1)) throw new IllegalArgumentException("random-erasing probability " + reprob + " is outside [0, 1]");
        RandomErasing.Mode.parse(remode);
        if (mean == null || std == null || mean.length != 3 || std.length != 3) {
            throw new IllegalArgumentException("mean and std need 3 values each (RGB)");
        }
        for (float s : std) if (!(s > 0)) throw new IllegalArgumentException("std " + Arrays.toString(std) + " must be positive");
        mean = mean.clone();
        std = std.clone();
        RandAugment.parse(randAugment, new int[3]);  // fail early on a bad string
    }

    /** The official PolaFormer++ training recipe (spec §5.6) at {@code size} pixels, with ImageNet's mean and std. */
    public static AugmentConfig official(int size) {
        return new AugmentConfig(size, 0.08, 1.0, 3.0 / 4.0, 4.0 / 3.0, 0.5, "rand-m9-mstd0.5-inc1", 0.25, "pixel",
                Preprocess.IMAGENET_MEAN, Preprocess.IMAGENET_STD);
    }

    /**
     * No augmentation: the central square crop of the image (the whole image if square) resized to {@code size},
     * as timm's {@code transforms_noaug_train} (Resize shorter side, CenterCrop) up to resampling order.
     */
    public static AugmentConfig none(int size) {
        return new AugmentConfig(size, 1, 1, 1, 1, 0, null, 0, "pixel", Preprocess.IMAGENET_MEAN, Preprocess.IMAGENET_STD);
    }

    /** A copy with another mean and std (e.g. a gray dataset's statistics). */
    public AugmentConfig withNormalization(float[] mean, float[] std) {
        return new AugmentConfig(size, scaleMin, scaleMax, ratioMin, ratioMax, hflip, randAugment, reprob, remode, mean, std);
    }

    /**
     * The fill colour of RandAugment's geometric ops: timm's {@code img_mean = min(255, round(255·mean))}, with
     * Python's round half to even ((124, 116, 104) for ImageNet).
     */
    public int[] fillColor() {
        int[] fill = new int[3];
        for (int c = 0; c < 3; c++) fill[c] = (int) Math.min(255, Math.rint(255.0 * mean[c]));
        return fill;
    }

    @Override public float[] mean() { return mean.clone(); }

    @Override public float[] std() { return std.clone(); }

    @Override public boolean equals(Object o) {
        return o instanceof AugmentConfig a && size == a.size && scaleMin == a.scaleMin && scaleMax == a.scaleMax
                && ratioMin == a.ratioMin && ratioMax == a.ratioMax && hflip == a.hflip && reprob == a.reprob
                && java.util.Objects.equals(randAugment, a.randAugment) && remode.equals(a.remode)
                && Arrays.equals(mean, a.mean) && Arrays.equals(std, a.std);
    }

    @Override public int hashCode() {
        return java.util.Objects.hash(size, scaleMin, scaleMax, ratioMin, ratioMax, hflip, randAugment, reprob, remode,
                Arrays.hashCode(mean), Arrays.hashCode(std));
    }

    @Override public String toString() {
        return "AugmentConfig[size=" + size + ", scale=(" + scaleMin + ", " + scaleMax + "), ratio=(" + ratioMin + ", " + ratioMax
                + "), hflip=" + hflip + ", randAugment=" + randAugment + ", reprob=" + reprob + ", remode=" + remode
                + ", mean=" + Arrays.toString(mean) + ", std=" + Arrays.toString(std) + "]";
    }
}
