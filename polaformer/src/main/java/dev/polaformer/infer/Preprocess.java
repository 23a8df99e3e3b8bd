package dev.polaformer.infer;

/**
 * The official evaluation transform (spec §5.6): {@code Resize((256, 256))} with bicubic resampling (a square
 * resize that ignores the aspect ratio), {@code CenterCrop(224)}, {@code ToTensor}, {@code Normalize} with the
 * ImageNet mean and std. The resize reproduces Pillow's 8-bit bicubic resampling exactly ({@link Resample}).
 *
 * @param resize the square side images are resized to (256)
 * @param crop   the centre crop (224)
 */
public record Preprocess(int resize, int crop, float[] mean, float[] std) {
    public static final float[] IMAGENET_MEAN = {0.485f, 0.456f, 0.406f};
    public static final float[] IMAGENET_STD = {0.229f, 0.224f, 0.225f};

    /** The official setting for a {@code crop}-pixel model: resize to {@code crop / 0.875}. */
    public static Preprocess imagenet(int crop) {
        return new Preprocess((int) Math.floor(crop / 0.875), crop, IMAGENET_MEAN, IMAGENET_STD);
    }

    public Preprocess {
        if (crop > resize) throw new IllegalArgumentException("crop " + crop + " is larger than the resize " + resize);
        mean = mean.clone();
        std = std.clone();
    }

    /** The normalised crop as channels-last floats {@code (crop, crop, 3)}, written at {@code out[offset..]}. */
    public void apply(RgbImage image, float[] out, int offset) {
        RgbImage r = resize(image, resize, resize);
        // torchvision CenterCrop: top = round((H − crop) / 2)
        int top = (int) Math.round((resize - crop) / 2.0), left = (int) Math.round((resize - crop) / 2.0);
        for (int y = 0; y < crop; y++)
            for (int x = 0; x < crop; x++)
                for (int c = 0; c < 3; c++) {
                    float v = r.at(left + x, top + y, c) / 255f;
                    out[offset + (y * crop + x) * 3 + c] = (v - mean[c]) / std[c];
                }
    }

    public float[] apply(RgbImage image) {
        float[] out = new float[crop * crop * 3];
        apply(image, out, 0);
        return out;
    }

    /** Resizes with Pillow's {@code Image.resize(size, BICUBIC)}, bit for bit ({@link Resample}). */
    public static RgbImage resize(RgbImage in, int outW, int outH) {
        return Resample.resize(in, outW, outH);
    }
}
