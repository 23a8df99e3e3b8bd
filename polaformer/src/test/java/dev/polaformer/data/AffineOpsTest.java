package dev.polaformer.data;

import dev.polaformer.infer.RgbImage;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** Geometric ops: Pillow's affine transform maps output pixel centres to the input, bicubic, fill outside. */
class AffineOpsTest {
    private static final int[] FILL = {124, 116, 104};

    private static int[] px(RgbImage img, int x, int y) {
        int p = (y * img.width() + x) * 3;
        return new int[] {img.rgb()[p] & 0xff, img.rgb()[p + 1] & 0xff, img.rgb()[p + 2] & 0xff};
    }

    @Test void wholePixelTranslationsMoveContentExactly() {
        RgbImage img = Images.random(8, 4, 1);
        RgbImage left = AffineOps.translateXRel(img, 0.25, FILL);  // 2 pixels: output x shows input x + 2
        RgbImage down = AffineOps.translateYRel(img, -0.25, FILL);  // −1 pixel: output y shows input y − 1
        for (int y = 0; y < 4; y++) {
            for (int x = 0; x < 8; x++) {
                assertArrayEquals(x + 2 < 8 ? px(img, x + 2, y) : FILL, px(left, x, y), "translate x at " + x + "," + y);
                assertArrayEquals(y >= 1 ? px(img, x, y - 1) : FILL, px(down, x, y), "translate y at " + x + "," + y);
            }
        }
    }

    @Test void quarterTurnOfANonSquareImageIsCounterClockwiseAboutTheCentre() {
        // 6×4, centre (3, 2), 90°: x_in = 5 − (y + ½), y_in = (x + ½) − 1, so output (x, y) = input (4 − y, x − 1)
        // for x in 1..4, and the fill elsewhere. Pixel centres land on pixel centres, so values are exact.
        RgbImage img = Images.random(6, 4, 2);
        RgbImage r = AffineOps.rotate(img, 90, FILL);
        for (int y = 0; y < 4; y++) {
            for (int x = 0; x < 6; x++) {
                assertArrayEquals(x >= 1 && x <= 4 ? px(img, 4 - y, x - 1) : FILL, px(r, x, y), "at " + x + "," + y);
            }
        }
        // −270° is the same angle (Python's modulo).
        assertArrayEquals(r.rgb(), AffineOps.rotate(img, -270, FILL).rgb());
    }

    @Test void exactTurnsOfSquareImagesMatchTheGeneralTransform() {
        RgbImage img = Images.random(5, 5, 3);
        for (int degrees : new int[] {90, 180, 270}) {
            double rad = -Math.toRadians(degrees);
            double a = Math.rint(Math.cos(rad)), b = Math.rint(Math.sin(rad));
            double[] m = {a, b, 2.5 - a * 2.5 - b * 2.5, -b, a, 2.5 + b * 2.5 - a * 2.5};
            assertArrayEquals(AffineOps.transform(img, m, FILL).rgb(), AffineOps.rotate(img, degrees, FILL).rgb(), degrees + "°");
        }
        assertArrayEquals(img.rgb(), AffineOps.rotate(img, 360, FILL).rgb());
    }

    @Test void flatRegionsStayExactAndTheOutsideIsFilled() {
        RgbImage flat = Images.constant(20, 14, 90, 91, 92);
        for (RgbImage out : new RgbImage[] {AffineOps.rotate(flat, 17.3, FILL), AffineOps.shearX(flat, 0.27, FILL),
                AffineOps.shearY(flat, -0.27, FILL)}) {
            int inside = 0;
            for (int y = 0; y < 14; y++) {
                for (int x = 0; x < 20; x++) {
                    int[] v = px(out, x, y);
                    if (v[0] == 90) {
                        assertArrayEquals(new int[] {90, 91, 92}, v);
                        inside++;
                    } else {
                        assertArrayEquals(FILL, v, "a pixel is either the flat colour or the fill");
                    }
                }
            }
            assertEquals(true, inside > 100 && inside < 280, "inside " + inside);
        }
        // ShearX: output (x, y) samples x + ½ + f·(y + ½); inside exactly when that is in [0, W).
        RgbImage sheared = AffineOps.shearX(flat, 0.27, FILL);
        for (int y = 0; y < 14; y++) {
            for (int x = 0; x < 20; x++) {
                double xin = x + 0.5 + 0.27 * (y + 0.5);
                assertEquals(xin < 20, px(sheared, x, y)[0] == 90, "shear mask at " + x + "," + y);
            }
        }
    }

    @Test void theCubicIsPillowsAMinusOneKernel() {
        // At d = 0 the second sample; at d = ½ the a = −1 weights (−1/8, 5/8, 5/8, −1/8).
        assertEquals(7.0, AffineOps.cubic(3, 7, 11, 2, 0), 0);
        assertEquals((-3 + 5 * 7 + 5 * 11 - 2) / 8.0, AffineOps.cubic(3, 7, 11, 2, 0.5), 1e-12);
        // Unlike resize's a = −0.5 kernel it does not reproduce a ramp: at d = ¼ the weights are
        // (−0.140625, 0.890625, 0.296875, −0.046875), so 9, 10, 11, 12 give 10.34375, not 10.25.
        assertEquals(10.34375, AffineOps.cubic(9, 10, 11, 12, 0.25), 1e-12);
    }
}
