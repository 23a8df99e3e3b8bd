package dev.polaformer.data;

import dev.polaformer.infer.Preprocess;
import dev.polaformer.infer.Resample;
import dev.polaformer.infer.RgbImage;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RandomResizedCropTest {
    @Test void boxesStayInsideWithAreaAndRatioInRange() {
        int w = 500, h = 375, trials = 20_000;
        double fracMin = 1, fracMax = 0;
        double ratioMin = 9, ratioMax = 0;
        for (int i = 0; i < trials; i++) {
            CropBox b = RandomResizedCrop.sample(w, h, 0.08, 1.0, 3 / 4.0, 4 / 3.0, Rng.of(1, i));
            assertTrue(b.left() >= 0 && b.top() >= 0 && b.left() + b.width() <= w && b.top() + b.height() <= h, b.toString());
            double frac = b.area() / (w * h), ratio = (double) b.width() / b.height();
            fracMin = Math.min(fracMin, frac);
            fracMax = Math.max(fracMax, frac);
            ratioMin = Math.min(ratioMin, ratio);
            ratioMax = Math.max(ratioMax, ratio);
        }
        // Rounding the sides to whole pixels moves the area and ratio by well under 1% at these sizes.
        assertTrue(fracMin >= 0.08 * 0.99 && fracMin < 0.082, "smallest area fraction " + fracMin);
        assertTrue(fracMax <= 1.0 && fracMax > 0.97, "largest area fraction " + fracMax);
        assertTrue(ratioMin >= 0.75 * 0.99 && ratioMin < 0.76, "smallest ratio " + ratioMin);
        assertTrue(ratioMax <= 4 / 3.0 * 1.01 && ratioMax > 1.31, "largest ratio " + ratioMax);
    }

    @Test void smallCropsAreUniformInAreaAndLogUniformInRatio() {
        // With scale ≤ 0.3 every first attempt fits, so the draws are seen undistorted.
        int trials = 20_000;
        double sumFrac = 0, sumLog = 0, sumLogSq = 0;
        for (int i = 0; i < trials; i++) {
            CropBox b = RandomResizedCrop.sample(1000, 1000, 0.08, 0.3, 3 / 4.0, 4 / 3.0, Rng.of(2, i));
            sumFrac += b.area() / 1e6;
            double l = Math.log((double) b.width() / b.height());
            sumLog += l;
            sumLogSq += l * l;
        }
        assertEquals(0.19, sumFrac / trials, 0.002, "mean of uniform(0.08, 0.3)");
        double half = Math.log(4 / 3.0);
        assertEquals(0, sumLog / trials, 0.003);
        assertEquals(half * half / 3, sumLogSq / trials, 0.001, "variance of uniform(−ln 4/3, ln 4/3)");
    }

    @Test void positionsCoverEveryPlacement() {
        int minLeft = 99, maxLeft = -1;
        double sumTop = 0;
        for (int i = 0; i < 5000; i++) {
            CropBox b = RandomResizedCrop.sample(100, 100, 0.25, 0.25, 1, 1, Rng.of(3, i));
            assertEquals(50, b.width());
            assertEquals(50, b.height());
            minLeft = Math.min(minLeft, b.left());
            maxLeft = Math.max(maxLeft, b.left());
            sumTop += b.top();
        }
        assertEquals(0, minLeft);
        assertEquals(50, maxLeft, "randint's upper bound is inclusive");
        assertEquals(25, sumTop / 5000, 0.6);
    }

    @Test void fallbackIsTheCentralCropClampedToTheRatioRange() {
        SplittableRandom rng = new SplittableRandom(4);
        // Too wide for any attempt: h = 10, w = round(10·4/3) = 13, centred.
        assertEquals(new CropBox(493, 0, 13, 10), RandomResizedCrop.sample(1000, 10, 0.08, 1, 3 / 4.0, 4 / 3.0, rng));
        assertEquals(new CropBox(0, 493, 10, 13), RandomResizedCrop.sample(10, 1000, 0.08, 1, 3 / 4.0, 4 / 3.0, rng));
        // A scale above 1 never fits; the ratio is in range, so the whole image.
        assertEquals(new CropBox(0, 0, 100, 90), RandomResizedCrop.sample(100, 90, 1.5, 2, 3 / 4.0, 4 / 3.0, rng));
        // AugmentConfig.none: the central square.
        assertEquals(new CropBox(0, 10, 30, 30), RandomResizedCrop.sample(30, 50, 1, 1, 1, 1, rng));
        assertEquals(new CropBox(0, 0, 28, 28), RandomResizedCrop.sample(28, 28, 1, 1, 1, 1, rng));
    }

    @Test void resizedCropIsPillowsResizeOfTheCrop() {
        RgbImage img = Images.random(53, 41, 7);
        SplittableRandom rng = new SplittableRandom(8);
        int[][] sizes = {{32, 32}, {8, 5}, {53, 41}, {100, 3}, {1, 1}};
        for (int trial = 0; trial < 40; trial++) {
            int bw = 1 + rng.nextInt(53), bh = 1 + rng.nextInt(41);
            CropBox box = new CropBox(rng.nextInt(53 - bw + 1), rng.nextInt(41 - bh + 1), bw, bh);
            byte[] crop = new byte[bw * bh * 3];
            for (int y = 0; y < bh; y++) System.arraycopy(img.rgb(), ((box.top() + y) * 53 + box.left()) * 3, crop, y * bw * 3, bw * 3);
            RgbImage cropped = new RgbImage(bw, bh, crop);
            int[] size = trial < sizes.length ? sizes[trial] : new int[] {1 + rng.nextInt(60), 1 + rng.nextInt(60)};
            assertArrayEquals(Preprocess.resize(cropped, size[0], size[1]).rgb(), Resample.resizedCrop(img, box.left(), box.top(), box.width(),
                    box.height(), size[0], size[1]).rgb(),
                    box + " → " + size[0] + "×" + size[1]);
        }
    }
}
