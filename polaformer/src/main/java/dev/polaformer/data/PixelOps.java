package dev.polaformer.data;

import dev.polaformer.infer.RgbImage;

/**
 * The colour operations of timm 0.4.12's RandAugment, with the arithmetic of the Pillow functions they call
 * ({@code ImageOps}, {@code ImageEnhance}, {@code Image.blend}), plus the horizontal flip. Every operation returns a
 * new image and leaves its input untouched.
 *
 * <ul>
 * <li>Point operations are 256-entry lookup tables applied to each channel: invert {@code 255 − v}; posterize keeps
 *     the top {@code bits} bits ({@code v & ~(2^(8−bits) − 1)}, so 0 bits gives black); solarize inverts
 *     {@code v >= threshold}; solarize-add adds {@code add} (clipped at 255) to {@code v < threshold}.</li>
 * <li>Autocontrast (cutoff 0) maps each channel's [lo, hi] onto [0, 255] with {@code int(v·scale + offset)},
 *     scale = 255/(hi − lo), offset = −lo·scale, in double as Python computes it; a channel with hi ≤ lo is kept.</li>
 * <li>Equalize, per channel: with the nonzero histogram bins h, {@code step = (Σh − h_last) // 256}; if there is a
 *     single level or step = 0 the channel is kept, else {@code lut[i] = (step//2 + Σ_{j<i} hist[j]) // step}
 *     (values above 255 clip).</li>
 * <li>The enhancers blend a "degenerate" image D with the image I: {@code D + f·(I − D)} in single precision,
 *     clipped to [0, 255] and truncated, as {@code Image.blend} does. D is black for brightness; the gray
 *     ({@code (19595 R + 38470 G + 7471 B + 2^15) >> 16}, Pillow's {@code convert("L")}) replicated to RGB for
 *     colour; a constant gray at {@code int(mean(gray) + 0.5)} for contrast; and for sharpness the image filtered
 *     with Pillow's SMOOTH kernel [[1 1 1] [1 5 1] [1 1 1]]/13 (rounded, the one-pixel border copied unfiltered).</li>
 * </ul>
 */
final class PixelOps {
    private PixelOps() {}

    static RgbImage hflip(RgbImage in) {
        int w = in.width(), h = in.height();
        byte[] src = in.rgb(), out = new byte[src.length];
        for (int y = 0; y < h; y++) {
            int row = y * w * 3;
            for (int x = 0; x < w; x++) {
                int s = row + 3 * x, d = row + 3 * (w - 1 - x);
                out[d] = src[s];
                out[d + 1] = src[s + 1];
                out[d + 2] = src[s + 2];
            }
        }
        return new RgbImage(w, h, out);
    }

    // ---------------------------------------------------------------- lookup-table operations

    static RgbImage invert(RgbImage in) {
        int[] lut = new int[256];
        for (int i = 0; i < 256; i++) lut[i] = 255 - i;
        return applyLut(in, lut, lut, lut);
    }

    static RgbImage posterize(RgbImage in, int bits) {
        if (bits >= 8) return copy(in);
        int mask = ~((1 << (8 - Math.max(bits, 0))) - 1);
        int[] lut = new int[256];
        for (int i = 0; i < 256; i++) lut[i] = i & mask;
        return applyLut(in, lut, lut, lut);
    }

    static RgbImage solarize(RgbImage in, int threshold) {
        int[] lut = new int[256];
        for (int i = 0; i < 256; i++) lut[i] = i < threshold ? i : 255 - i;
        return applyLut(in, lut, lut, lut);
    }

    static RgbImage solarizeAdd(RgbImage in, int add, int threshold) {
        int[] lut = new int[256];
        for (int i = 0; i < 256; i++) lut[i] = i < threshold ? Math.min(255, i + add) : i;
        return applyLut(in, lut, lut, lut);
    }

    static RgbImage autoContrast(RgbImage in) {
        int[][] hist = histograms(in);
        int[][] luts = new int[3][];
        for (int c = 0; c < 3; c++) {
            int[] h = hist[c];
            int lo = 0, hi = 255;
            while (lo < 256 && h[lo] == 0) lo++;
            while (hi >= 0 && h[hi] == 0) hi--;
            int[] lut = luts[c] = new int[256];
            if (hi <= lo) {
                for (int i = 0; i < 256; i++) lut[i] = i;
            } else {
                double scale = 255.0 / (hi - lo), offset = -lo * scale;
                for (int i = 0; i < 256; i++) lut[i] = clamp255((int) (i * scale + offset));
            }
        }
        return applyLut(in, luts[0], luts[1], luts[2]);
    }

    static RgbImage equalize(RgbImage in) {
        int[][] hist = histograms(in);
        int[][] luts = new int[3][];
        for (int c = 0; c < 3; c++) {
            int[] h = hist[c];
            int[] lut = luts[c] = new int[256];
            int levels = 0, last = 0;
            long total = 0;
            for (int i = 0; i < 256; i++) {
                if (h[i] != 0) {
                    levels++;
                    last = h[i];
                    total += h[i];
                }
            }
            long step = levels <= 1 ? 0 : (total - last) / 256;
            if (step == 0) {
                for (int i = 0; i < 256; i++) lut[i] = i;
            } else {
                long n = step / 2;
                for (int i = 0; i < 256; i++) {
                    lut[i] = (int) Math.min(255, n / step);
                    n += h[i];
                }
            }
        }
        return applyLut(in, luts[0], luts[1], luts[2]);
    }

    // ---------------------------------------------------------------- enhancers (Image.blend with a degenerate image)

    static RgbImage brightness(RgbImage in, double factor) {
        return blend(new byte[in.rgb().length], in, factor);
    }

    static RgbImage color(RgbImage in, double factor) {
        byte[] src = in.rgb(), gray = new byte[src.length];
        for (int p = 0; p < src.length; p += 3) {
            byte l = (byte) luma(src, p);
            gray[p] = l;
            gray[p + 1] = l;
            gray[p + 2] = l;
        }
        return blend(gray, in, factor);
    }

    static RgbImage contrast(RgbImage in, double factor) {
        byte[] src = in.rgb();
        double sum = 0;
        for (int p = 0; p < src.length; p += 3) sum += luma(src, p);
        int mean = (int) (sum / (src.length / 3) + 0.5);
        byte[] flat = new byte[src.length];
        java.util.Arrays.fill(flat, (byte) mean);
        return blend(flat, in, factor);
    }

    static RgbImage sharpness(RgbImage in, double factor) {
        return blend(smooth(in), in, factor);
    }

    /** Pillow's {@code ImageFilter.SMOOTH}: a 3×3 kernel, border pixels copied. */
    static byte[] smooth(RgbImage in) {
        int w = in.width(), h = in.height(), stride = 3 * w;
        byte[] src = in.rgb(), out = src.clone();
        final float side = 1f / 13f, centre = 5f / 13f;
        for (int y = 1; y < h - 1; y++) {
            for (int x = 1; x < w - 1; x++) {
                for (int c = 0; c < 3; c++) {
                    int p = y * stride + 3 * x + c;
                    // Pillow's order: the row below, this row, the row above; each left, centre, right.
                    float ss = 0.5f;
                    ss += (src[p + stride - 3] & 0xff) * side + (src[p + stride] & 0xff) * side + (src[p + stride + 3] & 0xff) * side;
                    ss += (src[p - 3] & 0xff) * side + (src[p] & 0xff) * centre + (src[p + 3] & 0xff) * side;
                    ss += (src[p - stride - 3] & 0xff) * side + (src[p - stride] & 0xff) * side + (src[p - stride + 3] & 0xff) * side;
                    out[p] = (byte) clip8(ss);
                }
            }
        }
        return out;
    }

    /** {@code Image.blend(degenerate, image, factor)}: {@code D + f·(I − D)} in float, clipped, truncated. */
    static RgbImage blend(byte[] degenerate, RgbImage image, double factor) {
        float alpha = (float) factor;
        byte[] src = image.rgb(), out = new byte[src.length];
        for (int i = 0; i < src.length; i++) {
            int d = degenerate[i] & 0xff;
            out[i] = (byte) clip8(d + alpha * ((src[i] & 0xff) - d));
        }
        return new RgbImage(image.width(), image.height(), out);
    }

    /** Pillow's RGB → L: ITU-R 601-2 luma in 16-bit fixed point, rounded. */
    static int luma(byte[] rgb, int p) {
        return ((rgb[p] & 0xff) * 19595 + (rgb[p + 1] & 0xff) * 38470 + (rgb[p + 2] & 0xff) * 7471 + 0x8000) >> 16;
    }

    // ---------------------------------------------------------------- helpers

    static int[][] histograms(RgbImage in) {
        int[][] h = new int[3][256];
        byte[] src = in.rgb();
        for (int p = 0; p < src.length; p += 3) {
            h[0][src[p] & 0xff]++;
            h[1][src[p + 1] & 0xff]++;
            h[2][src[p + 2] & 0xff]++;
        }
        return h;
    }

    static RgbImage applyLut(RgbImage in, int[] r, int[] g, int[] b) {
        byte[] src = in.rgb(), out = new byte[src.length];
        for (int p = 0; p < src.length; p += 3) {
            out[p] = (byte) r[src[p] & 0xff];
            out[p + 1] = (byte) g[src[p + 1] & 0xff];
            out[p + 2] = (byte) b[src[p + 2] & 0xff];
        }
        return new RgbImage(in.width(), in.height(), out);
    }

    private static RgbImage copy(RgbImage in) {
        return new RgbImage(in.width(), in.height(), in.rgb().clone());
    }

    private static int clip8(float v) {
        return v <= 0f ? 0 : v >= 255f ? 255 : (int) v;
    }

    private static int clamp255(int v) {
        return v < 0 ? 0 : Math.min(v, 255);
    }
}
