package dev.polaformer.data;

import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RandomErasingTest {
    private static final float UNTOUCHED = 1e9f;
    private static final int H = 48, W = 40;

    /** The erased box as {top, left, height, width}, or null; checks that it is one rectangle. */
    private static int[] box(float[] img, int offset) {
        int top = H, left = W, bottom = -1, right = -1, changed = 0;
        for (int y = 0; y < H; y++) {
            for (int x = 0; x < W; x++) {
                boolean c = false;
                for (int ch = 0; ch < 3; ch++) c |= img[offset + (y * W + x) * 3 + ch] != UNTOUCHED;
                if (!c) continue;
                changed++;
                top = Math.min(top, y);
                left = Math.min(left, x);
                bottom = Math.max(bottom, y);
                right = Math.max(right, x);
            }
        }
        if (changed == 0) return null;
        int h = bottom - top + 1, w = right - left + 1;
        assertEquals(h * w, changed, "the erased pixels form one full rectangle");
        return new int[] {top, left, h, w};
    }

    @Test void boxAreaAspectAndNoise() {
        RandomErasing re = RandomErasing.timm(1.0, "pixel");
        float[] img = new float[5 + H * W * 3];
        int trials = 3000, erased = 0;
        double logAspectSum = 0, noiseSum = 0, noiseSq = 0, minFrac = 1, maxFrac = 0;
        long noiseCount = 0;
        for (int i = 0; i < trials; i++) {
            Arrays.fill(img, UNTOUCHED);
            re.apply(img, 5, H, W, Rng.of(1, i));
            assertEquals(UNTOUCHED, img[0], "nothing before the offset is touched");
            int[] b = box(img, 5);
            if (b == null) continue;
            erased++;
            double frac = (double) b[2] * b[3] / (H * W), aspect = (double) b[2] / b[3];
            minFrac = Math.min(minFrac, frac);
            maxFrac = Math.max(maxFrac, frac);
            assertTrue(frac > 0.012 && frac < 0.36, "area fraction " + frac);
            assertTrue(aspect > 0.3 / 1.4 && aspect < 1.4 / 0.3, "aspect " + aspect);
            assertTrue(b[2] < H && b[3] < W);
            logAspectSum += Math.log(aspect);
            for (int y = b[0]; y < b[0] + b[2]; y++) {
                for (int k = 0; k < b[3] * 3; k++) {
                    double v = img[5 + (y * W + b[1]) * 3 + k];
                    noiseSum += v;
                    noiseSq += v * v;
                    noiseCount++;
                }
            }
        }
        assertTrue(erased > trials * 0.97, "p = 1 erases unless all 10 tries fail: " + erased);
        assertTrue(minFrac < 0.03 && maxFrac > 0.30, "areas span 2%..33%: " + minFrac + ".." + maxFrac);
        assertEquals(0, logAspectSum / erased, 0.05, "log-uniform aspect, symmetric about 1");
        double mean = noiseSum / noiseCount, std = Math.sqrt(noiseSq / noiseCount - mean * mean);
        assertEquals(0, mean, 0.01);
        assertEquals(1, std, 0.01);
    }

    @Test void probabilityAndModes() {
        float[] img = new float[H * W * 3];
        int erased = 0, trials = 4000;
        RandomErasing quarter = RandomErasing.timm(0.25, "pixel");
        for (int i = 0; i < trials; i++) {
            Arrays.fill(img, UNTOUCHED);
            quarter.apply(img, 0, H, W, Rng.of(2, i));
            if (box(img, 0) != null) erased++;
        }
        assertEquals(0.25, (double) erased / trials, 0.025);

        RandomErasing constant = RandomErasing.timm(1, "const"), rand = RandomErasing.timm(1, "rand");
        Arrays.fill(img, UNTOUCHED);
        constant.apply(img, 0, H, W, Rng.of(3));
        int[] b = box(img, 0);
        for (int k = 0; k < b[3] * 3; k++) assertEquals(0f, img[(b[0] * W + b[1]) * 3 + k]);
        Arrays.fill(img, UNTOUCHED);
        rand.apply(img, 0, H, W, Rng.of(4));
        b = box(img, 0);
        int corner = (b[0] * W + b[1]) * 3, last = ((b[0] + b[2] - 1) * W + b[1] + b[3] - 1) * 3;
        for (int ch = 0; ch < 3; ch++) assertEquals(img[corner + ch], img[last + ch], "one colour per box");
        assertThrows(IllegalArgumentException.class, () -> RandomErasing.Mode.parse("noise"));
    }
}
