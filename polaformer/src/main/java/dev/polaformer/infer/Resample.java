package dev.polaformer.infer;


/**
 * Pillow's 8-bit bicubic {@code resize}, optionally applied to a crop window, i.e.
 * {@code img.crop(box).resize(size, BICUBIC)} as torchvision's {@code resized_crop} does, without copying the crop
 * first. Bit for bit Pillow's arithmetic (tested against images Pillow resized): a separable filter with
 * a = −0.5 widened by the scale factor when shrinking (antialiasing), taps clamped to the crop, weights in fixed
 * point with 22 fractional bits, horizontal pass first, rounding to 8 bits after each pass; a pass whose size does
 * not change is skipped.
 */
public final class Resample {
    private static final int PRECISION_BITS = 32 - 8 - 2;

    private Resample() {}

    /** Pillow's {@code image.resize((outW, outH), BICUBIC)}. */
    public static RgbImage resize(RgbImage in, int outW, int outH) {
        return resizedCrop(in, 0, 0, in.width(), in.height(), outW, outH);
    }

    /** The crop {@code [left, left+width) × [top, top+height)} resized to {@code outW × outH}. */
    public static RgbImage resizedCrop(RgbImage in, int left, int top, int width, int height, int outW, int outH) {
        if (left < 0 || top < 0 || width < 1 || height < 1 || left + width > in.width() || top + height > in.height()) {
            throw new IllegalArgumentException("crop " + width + "×" + height + " at (" + left + ", " + top
                    + ") is outside the " + in.width() + "×" + in.height() + " image");
        }
        if (outW < 1 || outH < 1) throw new IllegalArgumentException("cannot resize to " + outW + "×" + outH);
        Box box = new Box(left, top, width, height);
        byte[] src = in.rgb();
        int srcStride = in.width() * 3;
        // Horizontal pass over the crop's rows: (box.width → outW) × box.height.
        byte[] mid;
        int midW, midStride, midOffset;
        if (outW != box.width()) {
            mid = new byte[outW * box.height() * 3];
            Kernel k = Kernel.of(box.width(), outW);
            for (int y = 0; y < box.height(); y++) {
                int rowStart = (box.top() + y) * srcStride + box.left() * 3;
                int outRow = y * outW * 3;
                for (int o = 0; o < outW; o++) {
                    int r = 1 << (PRECISION_BITS - 1), g = r, b = r;
                    int p = rowStart + k.start[o] * 3, w = o * k.stride;
                    for (int t = 0; t < k.count[o]; t++, p += 3) {
                        int weight = k.weights[w + t];
                        r += (src[p] & 0xff) * weight;
                        g += (src[p + 1] & 0xff) * weight;
                        b += (src[p + 2] & 0xff) * weight;
                    }
                    mid[outRow + 3 * o] = clip8(r);
                    mid[outRow + 3 * o + 1] = clip8(g);
                    mid[outRow + 3 * o + 2] = clip8(b);
                }
            }
            midW = outW;
            midStride = outW * 3;
            midOffset = 0;
        } else {
            mid = src;
            midW = box.width();
            midStride = srcStride;
            midOffset = box.top() * srcStride + box.left() * 3;
        }
        if (outH == box.height()) {
            if (mid != src) return new RgbImage(outW, outH, mid);
            byte[] copy = new byte[outW * outH * 3];
            for (int y = 0; y < outH; y++) System.arraycopy(src, midOffset + y * midStride, copy, y * outW * 3, outW * 3);
            return new RgbImage(outW, outH, copy);
        }
        // Vertical pass: box.height → outH.
        byte[] out = new byte[outW * outH * 3];
        Kernel k = Kernel.of(box.height(), outH);
        int[] acc = new int[midW * 3];
        for (int o = 0; o < outH; o++) {
            java.util.Arrays.fill(acc, 1 << (PRECISION_BITS - 1));
            int w = o * k.stride;
            for (int t = 0; t < k.count[o]; t++) {
                int weight = k.weights[w + t];
                int row = midOffset + (k.start[o] + t) * midStride;
                for (int x = 0; x < acc.length; x++) acc[x] += (mid[row + x] & 0xff) * weight;
            }
            int outRow = o * outW * 3;
            for (int x = 0; x < acc.length; x++) out[outRow + x] = clip8(acc[x]);
        }
        return new RgbImage(outW, outH, out);
    }

    private record Box(int left, int top, int width, int height) {}

    private static byte clip8(int fixedPoint) {
        int v = fixedPoint >> PRECISION_BITS;
        return (byte) (v < 0 ? 0 : Math.min(v, 255));
    }

    /** Pillow's {@code precompute_coeffs} followed by {@code normalize_coeffs_8bpc}, for a bicubic (a = −0.5) filter. */
    private record Kernel(int[] start, int[] count, int[] weights, int stride) {
        static Kernel of(int inSize, int outSize) {
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
                double sum = 0;
                for (int x = 0; x < xmax; x++) {
                    double wgt = cubic((x + xmin - center + 0.5) * ss);
                    k[x] = wgt;
                    sum += wgt;
                }
                for (int x = 0; x < xmax; x++) {
                    double v = sum == 0 ? k[x] : k[x] / sum;
                    weights[o * stride + x] = (int) (v * (1 << PRECISION_BITS) + (v < 0 ? -0.5 : 0.5));
                }
                start[o] = xmin;
                count[o] = xmax;
            }
            return new Kernel(start, count, weights, stride);
        }

        private static double cubic(double x) {
            final double a = -0.5;
            x = Math.abs(x);
            if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
            if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
            return 0;
        }
    }
}
