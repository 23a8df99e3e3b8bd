package dev.polaformer.infer;

/**
 * The official evaluation transform (spec §5.6): {@code Resize((256, 256))} with bicubic resampling (a square
 * resize that ignores the aspect ratio), {@code CenterCrop(224)}, {@code ToTensor}, {@code Normalize} with the
 * ImageNet mean and std. The resize reproduces Pillow's 8-bit bicubic resampling exactly: a separable filter
 * (a = −0.5) widened by the scale factor when shrinking, fixed-point weights with 22 fractional bits, and
 * rounding to 8 bits after the horizontal and after the vertical pass.
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

    // ---------------------------------------------------------------- Pillow-compatible bicubic resize

    private static final int PRECISION_BITS = 32 - 8 - 2;

    /** Resizes with Pillow's {@code Image.resize(size, BICUBIC)}, bit for bit. */
    public static RgbImage resize(RgbImage in, int outW, int outH) {
        RgbImage horizontal = outW == in.width() ? in : pass(in, outW, true);
        return outH == in.height() ? horizontal : pass(horizontal, outH, false);
    }

    private static RgbImage pass(RgbImage in, int outSize, boolean horizontal) {
        int inSize = horizontal ? in.width() : in.height();
        int lines = horizontal ? in.height() : in.width();
        Coefficients k = Coefficients.of(inSize, outSize);
        int w = horizontal ? outSize : in.width(), h = horizontal ? in.height() : outSize;
        byte[] out = new byte[w * h * 3];
        for (int line = 0; line < lines; line++) {
            for (int o = 0; o < outSize; o++) {
                int start = k.start[o], n = k.count[o];
                for (int c = 0; c < 3; c++) {
                    long ss = 1L << (PRECISION_BITS - 1);
                    for (int t = 0; t < n; t++) {
                        int v = horizontal ? in.at(start + t, line, c) : in.at(line, start + t, c);
                        ss += (long) v * k.weights[o * k.stride + t];
                    }
                    int px = (int) Math.max(0, Math.min(255, ss >> PRECISION_BITS));
                    int x = horizontal ? o : line, y = horizontal ? line : o;
                    out[(y * w + x) * 3 + c] = (byte) px;
                }
            }
        }
        return new RgbImage(w, h, out);
    }

    /** Pillow's {@code precompute_coeffs} followed by {@code normalize_coeffs_8bpc}. */
    private record Coefficients(int[] start, int[] count, int[] weights, int stride) {
        static Coefficients of(int inSize, int outSize) {
            double scale = (double) inSize / outSize;
            double filterScale = Math.max(scale, 1.0);
            double support = 2.0 * filterScale;
            int stride = (int) Math.ceil(support) * 2 + 1;
            int[] start = new int[outSize], count = new int[outSize], weights = new int[outSize * stride];
            double[] k = new double[stride];
            for (int o = 0; o < outSize; o++) {
                double center = (o + 0.5) * scale;
                double ss = 1.0 / filterScale;
                int xmin = Math.max((int) (center - support + 0.5), 0);
                int xmax = Math.min((int) (center + support + 0.5), inSize) - xmin;
                double ww = 0;
                for (int x = 0; x < xmax; x++) {
                    double wgt = bicubic((x + xmin - center + 0.5) * ss);
                    k[x] = wgt;
                    ww += wgt;
                }
                for (int x = 0; x < xmax; x++) {
                    double v = ww == 0 ? k[x] : k[x] / ww;
                    weights[o * stride + x] = (int) (v * (1 << PRECISION_BITS) + (v < 0 ? -0.5 : 0.5));
                }
                start[o] = xmin;
                count[o] = xmax;
            }
            return new Coefficients(start, count, weights, stride);
        }

        private static double bicubic(double x) {
            final double a = -0.5;
            x = Math.abs(x);
            if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
            if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
            return 0;
        }
    }
}
