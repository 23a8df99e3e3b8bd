package dev.polaformer.data;

import java.util.Locale;
import java.util.SplittableRandom;

/**
 * timm 0.4.12's {@code RandomErasing} on one normalised image (channels last here, CHW in timm; the same pixels).
 * With probability {@code probability} (0.25 in the recipe) it tries up to 10 times to place one box: area
 * {@code uniform(0.02, 1/3)·H·W}, aspect {@code exp(uniform(ln 0.3, ln(1/0.3)))}, {@code h = round(√(area·aspect))},
 * {@code w = round(√(area/aspect))} (so the aspect is height/width), accepted if {@code w < W and h < H}, placed
 * with inclusive {@code randint} bounds. The box is filled, in normalised space, with per-pixel N(0, 1) noise
 * ("pixel"), one N(0, 1) colour ("rand") or zeros ("const"). Count is fixed at 1 ({@code re_count} 1).
 */
record RandomErasing(double probability, double minArea, double maxArea, double minAspect, double maxAspect, Mode mode) {
    enum Mode {
        CONST, RAND, PIXEL;

        static Mode parse(String s) {
            if (s == null || s.isEmpty()) return CONST;  // timm accepts an empty mode as 'const'
            return switch (s.toLowerCase(Locale.ROOT)) {
                case "const" -> CONST;
                case "rand" -> RAND;
                case "pixel" -> PIXEL;
                default -> throw new IllegalArgumentException("random-erasing mode \"" + s + "\": expected pixel, rand or const");
            };
        }
    }

    static RandomErasing timm(double probability, String mode) {
        return new RandomErasing(probability, 0.02, 1.0 / 3.0, 0.3, 1 / 0.3, Mode.parse(mode));
    }

    /** Erases at most one box of the {@code (height, width, 3)} image at {@code img[offset..]}. */
    void apply(float[] img, int offset, int height, int width, SplittableRandom rng) {
        if (rng.nextDouble() > probability) return;
        double area = (double) height * width;
        double logMin = Math.log(minAspect), logMax = Math.log(maxAspect);
        for (int attempt = 0; attempt < 10; attempt++) {
            double target = RandomResizedCrop.uniform(rng, minArea, maxArea) * area;
            double aspect = Math.exp(RandomResizedCrop.uniform(rng, logMin, logMax));
            int h = (int) Math.rint(Math.sqrt(target * aspect));
            int w = (int) Math.rint(Math.sqrt(target / aspect));
            if (w < width && h < height) {
                int top = rng.nextInt(height - h + 1);
                int left = rng.nextInt(width - w + 1);
                fill(img, offset, width, top, left, h, w, rng);
                return;
            }
        }
    }

    private void fill(float[] img, int offset, int width, int top, int left, int h, int w, SplittableRandom rng) {
        float[] colour = new float[3];
        if (mode == Mode.RAND) for (int c = 0; c < 3; c++) colour[c] = (float) rng.nextGaussian();
        for (int y = top; y < top + h; y++) {
            int p = offset + (y * width + left) * 3;
            for (int i = 0; i < w * 3; i++) {
                img[p + i] = mode == Mode.PIXEL ? (float) rng.nextGaussian() : colour[i % 3];
            }
        }
    }
}
