package dev.polaformer.data;

import dev.polaformer.infer.RgbImage;

import java.util.SplittableRandom;

/** Small images for the data tests. */
final class Images {
    private Images() {}

    /** An image from RGB triples, row by row. */
    static RgbImage of(int width, int height, int... rgb) {
        byte[] b = new byte[rgb.length];
        for (int i = 0; i < rgb.length; i++) b[i] = (byte) rgb[i];
        return new RgbImage(width, height, b);
    }

    static RgbImage constant(int width, int height, int r, int g, int b) {
        byte[] px = new byte[width * height * 3];
        for (int p = 0; p < px.length; p += 3) {
            px[p] = (byte) r;
            px[p + 1] = (byte) g;
            px[p + 2] = (byte) b;
        }
        return new RgbImage(width, height, px);
    }

    static RgbImage random(int width, int height, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        byte[] px = new byte[width * height * 3];
        for (int i = 0; i < px.length; i++) px[i] = (byte) rng.nextInt(256);
        return new RgbImage(width, height, px);
    }

    /** A smooth colourful picture (gradients and a disc) that resampling keeps recognisable. */
    static RgbImage picture(int width, int height) {
        byte[] px = new byte[width * height * 3];
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                int p = (y * width + x) * 3;
                double dx = x - width * 0.6, dy = y - height * 0.4;
                boolean disc = dx * dx + dy * dy < Math.pow(Math.min(width, height) * 0.25, 2);
                px[p] = (byte) (255 * x / Math.max(1, width - 1));
                px[p + 1] = (byte) (255 * y / Math.max(1, height - 1));
                px[p + 2] = (byte) (disc ? 230 : 40);
            }
        }
        return new RgbImage(width, height, px);
    }

    static int[] values(RgbImage img) {
        int[] v = new int[img.rgb().length];
        for (int i = 0; i < v.length; i++) v[i] = img.rgb()[i] & 0xff;
        return v;
    }
}
