package dev.polaformer.data;

import java.util.SplittableRandom;

/**
 * The crop box of timm 0.4.12's {@code RandomResizedCropAndInterpolation.get_params} (torchvision's algorithm):
 * up to 10 attempts, each drawing an area fraction uniform in [scaleMin, scaleMax] and an aspect ratio
 * width/height log-uniform in [ratioMin, ratioMax], giving {@code w = round(√(area·ratio))},
 * {@code h = round(√(area/ratio))} (Python's round, half to even); the first box that fits is placed uniformly
 * ({@code randint} bounds inclusive). If none fits, the fallback is the central crop of the whole image with its
 * aspect ratio clamped into the range. The crop is then resized to size×size with Pillow's bicubic filter
 * ({@link Resample}); PolaFormer++ sets interpolation "bicubic", so the 'random' interpolation choice never happens.
 */
final class RandomResizedCrop {
    private RandomResizedCrop() {}

    static CropBox sample(int width, int height, double scaleMin, double scaleMax, double ratioMin, double ratioMax, SplittableRandom rng) {
        double area = (double) width * height;
        double logMin = Math.log(ratioMin), logMax = Math.log(ratioMax);
        for (int attempt = 0; attempt < 10; attempt++) {
            double targetArea = uniform(rng, scaleMin, scaleMax) * area;
            double aspect = Math.exp(uniform(rng, logMin, logMax));
            int w = (int) Math.rint(Math.sqrt(targetArea * aspect));
            int h = (int) Math.rint(Math.sqrt(targetArea / aspect));
            if (w <= width && h <= height) {
                // A tiny image can round a side to 0, which torchvision would crop and Pillow refuse to resize; keep 1.
                w = Math.max(w, 1);
                h = Math.max(h, 1);
                int top = rng.nextInt(height - h + 1);
                int left = rng.nextInt(width - w + 1);
                return new CropBox(left, top, w, h);
            }
        }
        double inRatio = (double) width / height;
        int w, h;
        if (inRatio < ratioMin) {
            w = width;
            h = (int) Math.rint(w / ratioMin);
        } else if (inRatio > ratioMax) {
            h = height;
            w = (int) Math.rint(h * ratioMax);
        } else {
            w = width;
            h = height;
        }
        return new CropBox((width - w) / 2, (height - h) / 2, w, h);
    }

    /** Python's {@code random.uniform(a, b) = a + (b − a)·random()}. */
    static double uniform(SplittableRandom rng, double a, double b) {
        return a + (b - a) * rng.nextDouble();
    }
}
