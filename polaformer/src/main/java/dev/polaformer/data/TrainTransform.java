package dev.polaformer.data;

import dev.polaformer.infer.Resample;
import dev.polaformer.infer.RgbImage;

import java.util.SplittableRandom;

/**
 * The official training transform, timm 0.4.12's {@code transforms_imagenet_train} as PolaFormer++ configures it
 * (spec §5.6), in order:
 * <ol>
 * <li>{@code RandomResizedCropAndInterpolation(size, scale, ratio, bicubic)}: {@link RandomResizedCrop} picks the
 *     box, {@link Resample} resizes it with Pillow's bicubic filter;</li>
 * <li>{@code RandomHorizontalFlip(hflip)}: flips when {@code random() < hflip};</li>
 * <li>{@link RandAugment} (e.g. {@code rand-m9-mstd0.5-inc1}), its geometric fill colour
 *     {@code round(255·mean)}; colour jitter is NOT applied, as timm drops it whenever an augmentation policy is
 *     set;</li>
 * <li>{@code ToTensor} and {@code Normalize(mean, std)}: {@code (v/255 − mean)/std} in single precision;</li>
 * <li>{@link RandomErasing}({@code reprob}, {@code remode}) on the normalised pixels.</li>
 * </ol>
 * Each step draws from the one generator in that order. Draws are those timm makes, but from a different generator
 * (timm mixes Python's {@code random}, numpy and torch), so the same seed does not give timm's images; the
 * distributions are the same. Stateless and thread-safe.
 */
public final class TrainTransform implements Transform {
    private final AugmentConfig config;
    private final RandAugment randAugment;
    private final RandomErasing erasing;
    private final float[] mean, std;

    public TrainTransform(AugmentConfig config) {
        this.config = config;
        this.randAugment = RandAugment.parse(config.randAugment(), config.fillColor());
        this.erasing = config.reprob() > 0 ? RandomErasing.timm(config.reprob(), config.remode()) : null;
        this.mean = config.mean();
        this.std = config.std();
    }

    @Override public void apply(RgbImage image, SplittableRandom rng, float[] out, int offset) {
        int size = config.size();
        CropBox box = RandomResizedCrop.sample(image.width(), image.height(), config.scaleMin(), config.scaleMax(),
                config.ratioMin(), config.ratioMax(), rng);
        RgbImage img = Resample.resizedCrop(image, box.left(), box.top(), box.width(), box.height(), size, size);
        if (config.hflip() > 0 && rng.nextDouble() < config.hflip()) img = PixelOps.hflip(img);
        if (randAugment != null) img = randAugment.apply(img, rng);
        normalize(img, out, offset);
        if (erasing != null) erasing.apply(out, offset, size, size, rng);
    }

    /** ToTensor then Normalize, as {@link dev.polaformer.infer.Preprocess} computes it. */
    private void normalize(RgbImage img, float[] out, int offset) {
        byte[] rgb = img.rgb();
        for (int p = 0; p < rgb.length; p += 3) {
            for (int c = 0; c < 3; c++) out[offset + p + c] = ((rgb[p + c] & 0xff) / 255f - mean[c]) / std[c];
        }
    }

    @Override public int size() { return config.size(); }

    public AugmentConfig config() { return config; }

    @Override public String toString() {
        return "TrainTransform[" + config + (randAugment == null ? "" : ", " + randAugment) + "]";
    }
}
