package dev.polaformer.data;

import dev.polaformer.infer.RgbImage;

import java.math.BigDecimal;
import java.math.RoundingMode;

/**
 * The geometric operations of timm 0.4.12's RandAugment, as Pillow's {@code Image.transform(size, AFFINE, (a, b,
 * c, d, e, f), BICUBIC, fillcolor)} computes them. The matrix maps each output pixel centre to the input:
 * {@code x_in = a·(x+½) + b·(y+½) + c}, {@code y_in = d·(x+½) + e·(y+½) + f}. A point outside
 * [0, W) × [0, H) takes the fill colour (timm: the mean, (124, 116, 104) for ImageNet); inside, Pillow's
 * transform-bicubic interpolates the 4×4 neighbours around {@code (x_in − ½, y_in − ½)} with the a = −1 cubic
 * (unlike resize's a = −0.5), neighbours beyond the edge clamped, and the result clipped to [0, 255] and truncated.
 *
 * <ul>
 * <li>ShearX(f): (1, f, 0, 0, 1, 0); ShearY(f): (1, 0, 0, f, 1, 0).</li>
 * <li>TranslateXRel(p): (1, 0, p·W, 0, 1, 0); TranslateYRel(p): (1, 0, 0, 0, 1, p·H) (a positive p moves content
 *     left / up).</li>
 * <li>Rotate(θ degrees, counter-clockwise on screen) about the centre (W/2, H/2), size kept: Pillow's
 *     {@code Image.rotate}: θ mod 360 = 0 copies, 180 (and 90/270 on a square image) transposes exactly, otherwise
 *     the matrix (cos, sin, ·, −sin, cos, ·) of −θ with its entries rounded to 15 decimals as Pillow does.</li>
 * </ul>
 */
final class AffineOps {
    private AffineOps() {}

    static RgbImage shearX(RgbImage in, double factor, int[] fill) {
        return transform(in, new double[] {1, factor, 0, 0, 1, 0}, fill);
    }

    static RgbImage shearY(RgbImage in, double factor, int[] fill) {
        return transform(in, new double[] {1, 0, 0, factor, 1, 0}, fill);
    }

    static RgbImage translateXRel(RgbImage in, double fraction, int[] fill) {
        return transform(in, new double[] {1, 0, fraction * in.width(), 0, 1, 0}, fill);
    }

    static RgbImage translateYRel(RgbImage in, double fraction, int[] fill) {
        return transform(in, new double[] {1, 0, 0, 0, 1, fraction * in.height()}, fill);
    }

    static RgbImage rotate(RgbImage in, double degrees, int[] fill) {
        double angle = degrees % 360.0;
        if (angle < 0) angle += 360.0;  // Python's % takes the sign of the divisor
        int w = in.width(), h = in.height();
        if (angle == 0) return new RgbImage(w, h, in.rgb().clone());
        if (angle == 180) return rotate180(in);
        if ((angle == 90 || angle == 270) && w == h) return rotateQuarter(in, angle == 90);
        double cx = w / 2.0, cy = h / 2.0;
        double rad = -Math.toRadians(angle);
        double[] m = {round15(Math.cos(rad)), round15(Math.sin(rad)), 0.0, round15(-Math.sin(rad)), round15(Math.cos(rad)), 0.0};
        double c = m[0] * -cx + m[1] * -cy + m[2];
        double f = m[3] * -cx + m[4] * -cy + m[5];
        m[2] = c + cx;
        m[5] = f + cy;
        return transform(in, m, fill);
    }

    /** Python's {@code round(x, 15)}: the double's exact decimal value rounded half to even. */
    private static double round15(double x) {
        return new BigDecimal(x).setScale(15, RoundingMode.HALF_EVEN).doubleValue();
    }

    /** Pillow's {@code ImagingGenericTransform} with an affine map and the bicubic filter. */
    static RgbImage transform(RgbImage in, double[] m, int[] fill) {
        int w = in.width(), h = in.height(), stride = 3 * w;
        byte[] src = in.rgb(), out = new byte[src.length];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                double xin = m[0] * (x + 0.5) + m[1] * (y + 0.5) + m[2];
                double yin = m[3] * (x + 0.5) + m[4] * (y + 0.5) + m[5];
                int o = (y * w + x) * 3;
                if (!(xin >= 0.0 && xin < w && yin >= 0.0 && yin < h)) {
                    out[o] = (byte) fill[0];
                    out[o + 1] = (byte) fill[1];
                    out[o + 2] = (byte) fill[2];
                    continue;
                }
                xin -= 0.5;
                yin -= 0.5;
                int x0 = (int) Math.floor(xin), y0 = (int) Math.floor(yin);
                double dx = xin - x0, dy = yin - y0;
                int c0 = 3 * clamp(x0 - 1, w), c1 = 3 * clamp(x0, w), c2 = 3 * clamp(x0 + 1, w), c3 = 3 * clamp(x0 + 2, w);
                int r0 = clamp(y0 - 1, h) * stride, r1 = clamp(y0, h) * stride, r2 = clamp(y0 + 1, h) * stride, r3 = clamp(y0 + 2, h) * stride;
                for (int ch = 0; ch < 3; ch++) {
                    double v = cubic(
                            cubic(src[r0 + c0 + ch] & 0xff, src[r0 + c1 + ch] & 0xff, src[r0 + c2 + ch] & 0xff, src[r0 + c3 + ch] & 0xff, dx),
                            cubic(src[r1 + c0 + ch] & 0xff, src[r1 + c1 + ch] & 0xff, src[r1 + c2 + ch] & 0xff, src[r1 + c3 + ch] & 0xff, dx),
                            cubic(src[r2 + c0 + ch] & 0xff, src[r2 + c1 + ch] & 0xff, src[r2 + c2 + ch] & 0xff, src[r2 + c3 + ch] & 0xff, dx),
                            cubic(src[r3 + c0 + ch] & 0xff, src[r3 + c1 + ch] & 0xff, src[r3 + c2 + ch] & 0xff, src[r3 + c3 + ch] & 0xff, dx),
                            dy);
                    out[o + ch] = (byte) (v <= 0.0 ? 0 : v >= 255.0 ? 255 : (int) v);
                }
            }
        }
        return new RgbImage(w, h, out);
    }

    /**
     * Pillow's cubic through four samples at offsets −1, 0, 1, 2, evaluated at fraction d of the way from the second
     * to the third: the a = −1 cubic convolution in its polynomial form. Kept in this form (not as four weights)
     * because it returns a flat neighbourhood's value exactly, which truncation to 8 bits would otherwise turn into
     * value − 1.
     */
    static double cubic(double v1, double v2, double v3, double v4, double d) {
        double p1 = v2;
        double p2 = -v1 + v3;
        double p3 = 2 * (v1 - v2) + v3 - v4;
        double p4 = -v1 + v2 - v3 + v4;
        return p1 + d * (p2 + d * (p3 + d * p4));
    }

    private static int clamp(int i, int n) {
        return i < 0 ? 0 : i >= n ? n - 1 : i;
    }

    private static RgbImage rotate180(RgbImage in) {
        byte[] src = in.rgb(), out = new byte[src.length];
        int n = src.length / 3;
        for (int p = 0; p < n; p++) {
            int q = n - 1 - p;
            out[3 * q] = src[3 * p];
            out[3 * q + 1] = src[3 * p + 1];
            out[3 * q + 2] = src[3 * p + 2];
        }
        return new RgbImage(in.width(), in.height(), out);
    }

    /** Exact quarter turn of a square image: counter-clockwise for 90°, clockwise for 270°. */
    private static RgbImage rotateQuarter(RgbImage in, boolean counterClockwise) {
        int n = in.width();
        byte[] src = in.rgb(), out = new byte[src.length];
        for (int y = 0; y < n; y++) {
            for (int x = 0; x < n; x++) {
                // Counter-clockwise: output (x, y) shows input (n−1−y, x); clockwise: input (y, n−1−x).
                int sx = counterClockwise ? n - 1 - y : y, sy = counterClockwise ? x : n - 1 - x;
                System.arraycopy(src, (sy * n + sx) * 3, out, (y * n + x) * 3, 3);
            }
        }
        return new RgbImage(n, n, out);
    }
}
