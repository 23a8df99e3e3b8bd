package dev.polaformer.data;

import dev.polaformer.infer.RgbImage;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** Each colour op on a tiny image against values worked out by hand from Pillow's definitions. */
class PixelOpsTest {
    private static final RgbImage FOUR = Images.of(2, 2,
            0, 10, 200, 50, 128, 255,
            127, 129, 30, 255, 0, 100);

    @Test void invertIs255Minus() {
        assertArrayEquals(new int[] {255, 245, 55, 205, 127, 0, 128, 126, 225, 0, 255, 155}, Images.values(PixelOps.invert(FOUR)));
    }

    @Test void posterizeKeepsTheTopBits() {
        assertArrayEquals(new int[] {0, 0, 128, 0, 128, 128, 0, 128, 0, 128, 0, 0}, Images.values(PixelOps.posterize(FOUR, 1)));
        assertArrayEquals(new int[] {0, 0, 192, 0, 128, 192, 64, 128, 0, 192, 0, 64}, Images.values(PixelOps.posterize(FOUR, 2)));
        assertArrayEquals(new int[12], Images.values(PixelOps.posterize(FOUR, 0)), "0 bits: black (PosterizeIncreasing at magnitude 10)");
        assertArrayEquals(Images.values(FOUR), Images.values(PixelOps.posterize(FOUR, 8)));
    }

    @Test void solarizeInvertsFromTheThreshold() {
        assertArrayEquals(new int[] {0, 10, 55, 50, 127, 0, 127, 126, 30, 0, 0, 100}, Images.values(PixelOps.solarize(FOUR, 128)));
        assertArrayEquals(new int[] {255, 245, 55, 205, 127, 0, 128, 126, 225, 0, 255, 155}, Images.values(PixelOps.solarize(FOUR, 0)));
        assertArrayEquals(Images.values(FOUR), Images.values(PixelOps.solarize(FOUR, 256)));
    }

    @Test void solarizeAddAddsBelowTheThresholdAndClips() {
        assertArrayEquals(new int[] {99, 109, 200, 149, 128, 255, 226, 129, 129, 255, 99, 199},
                Images.values(PixelOps.solarizeAdd(FOUR, 99, 128)));
    }

    @Test void autoContrastStretchesEachChannel() {
        RgbImage img = Images.of(3, 1, 50, 7, 0, 100, 7, 10, 150, 7, 20);
        // R: [50, 150] → scale 2.55, int(100·2.55 − 127.5) = 127; G constant: kept; B: [0, 20] → int(10·12.75) = 127.
        assertArrayEquals(new int[] {0, 7, 0, 127, 7, 127, 255, 7, 255}, Images.values(PixelOps.autoContrast(img)));
        RgbImage full = Images.of(2, 1, 0, 3, 255, 255, 250, 0);
        // R and B already span [0, 255] and are kept; G spans [3, 250]: scale 255/247; int(3·s − 3·s) = 0 and int(250·s − 3·s) = 255.
        assertArrayEquals(new int[] {0, 0, 255, 255, 255, 0}, Images.values(PixelOps.autoContrast(full)));
    }

    @Test void equalizeFollowsPillowsCumulativeHistogram() {
        // R: 300 × 10, 300 × 20, 40 × 30 → step = (640 − 40) // 256 = 2, lut[i] = (1 + Σ_{j<i} h_j) // 2:
        //    10 → 0, 20 → 301 // 2 = 150, 30 → 601 // 2 = 300 → 255.
        // G: one level → kept. B: 600 × 5, 40 × 9 → step = 600 // 256 = 2 → 5 → 0, 9 → 601 // 2 → 255.
        int n = 640;
        int[] rgb = new int[n * 3];
        for (int i = 0; i < n; i++) {
            rgb[3 * i] = i < 300 ? 10 : i < 600 ? 20 : 30;
            rgb[3 * i + 1] = 77;
            rgb[3 * i + 2] = i < 600 ? 5 : 9;
        }
        int[] out = Images.values(PixelOps.equalize(Images.of(32, 20, rgb)));
        for (int i = 0; i < n; i++) {
            assertEquals(i < 300 ? 0 : i < 600 ? 150 : 255, out[3 * i], "R of pixel " + i);
            assertEquals(77, out[3 * i + 1], "G of pixel " + i);
            assertEquals(i < 600 ? 0 : 255, out[3 * i + 2], "B of pixel " + i);
        }
        // Fewer than 257 pixels below the top level: step = 0, the image is kept.
        assertArrayEquals(Images.values(FOUR), Images.values(PixelOps.equalize(FOUR)));
    }

    @Test void brightnessScalesTruncatesAndClips() {
        RgbImage img = Images.of(2, 1, 10, 51, 201, 0, 255, 100);
        assertArrayEquals(new int[] {15, 76, 255, 0, 255, 150}, Images.values(PixelOps.brightness(img, 1.5)));
        assertArrayEquals(new int[] {5, 25, 100, 0, 127, 50}, Images.values(PixelOps.brightness(img, 0.5)));
        assertArrayEquals(Images.values(img), Images.values(PixelOps.brightness(img, 1.0)));
    }

    @Test void colorBlendsWithTheGrayImage() {
        // Pillow's L of (255, 0, 0) = (255·19595 + 2^15) >> 16 = 76; of (0, 255, 0) = 150; of (10, 20, 30) = 18.
        RgbImage img = Images.of(3, 1, 255, 0, 0, 0, 255, 0, 10, 20, 30);
        assertArrayEquals(new int[] {76, 76, 76, 150, 150, 150, 18, 18, 18}, Images.values(PixelOps.color(img, 0)));
        // factor 2: 76 + 2·(255 − 76) = 434 → 255, 76 − 152 → 0; 18 + 2·(10 − 18) = 2, 18 + 4 = 22, 18 + 24 = 42.
        assertArrayEquals(new int[] {255, 0, 0, 0, 255, 0, 2, 22, 42}, Images.values(PixelOps.color(img, 2)));
        // factor 0.5: 76 + 0.5·179 = 165.5 → 165; 76 − 38 = 38.
        assertArrayEquals(new int[] {165, 38, 38, 75, 202, 75, 14, 19, 24}, Images.values(PixelOps.color(img, 0.5)));
    }

    @Test void contrastBlendsWithTheMeanGray() {
        RgbImage img = Images.of(2, 1, 0, 0, 0, 255, 255, 255);  // gray mean 127.5 → int(128.0) = 128
        assertArrayEquals(new int[] {128, 128, 128, 128, 128, 128}, Images.values(PixelOps.contrast(img, 0)));
        assertArrayEquals(new int[] {64, 64, 64, 191, 191, 191}, Images.values(PixelOps.contrast(img, 0.5)));
        assertArrayEquals(new int[] {0, 0, 0, 255, 255, 255}, Images.values(PixelOps.contrast(img, 2)));
    }

    @Test void sharpnessBlendsWithTheSmoothedImageBordersKept() {
        int[] rgb = new int[27];
        rgb[12] = 130;  // the centre pixel's R; SMOOTH gives round(130·5/13) = 50 there, borders stay
        RgbImage img = Images.of(3, 3, rgb);
        int[] soft = Images.values(PixelOps.sharpness(img, 0));
        int[] expected = new int[27];
        expected[12] = 50;
        assertArrayEquals(expected, soft);
        expected[12] = 210;  // 50 + 2·(130 − 50)
        assertArrayEquals(expected, Images.values(PixelOps.sharpness(img, 2)));
        // A border pixel is never smoothed, so sharpness leaves it alone at any factor.
        int[] corner = new int[27];
        corner[0] = 200;
        RgbImage edge = Images.of(3, 3, corner);
        assertEquals(200, Images.values(PixelOps.sharpness(edge, 1.9))[0]);
    }

    @Test void hflipMirrorsEachRow() {
        assertArrayEquals(new int[] {50, 128, 255, 0, 10, 200, 255, 0, 100, 127, 129, 30}, Images.values(PixelOps.hflip(FOUR)));
    }

    @Test void opsLeaveTheirInputAlone() {
        int[] before = Images.values(FOUR);
        PixelOps.invert(FOUR);
        PixelOps.equalize(FOUR);
        PixelOps.sharpness(FOUR, 1.8);
        PixelOps.hflip(FOUR);
        assertArrayEquals(before, Images.values(FOUR));
    }
}
