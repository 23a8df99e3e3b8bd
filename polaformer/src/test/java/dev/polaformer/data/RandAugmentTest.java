package dev.polaformer.data;

import dev.polaformer.data.RandAugment.Op;
import dev.polaformer.data.RandAugment.Step;
import dev.polaformer.infer.RgbImage;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RandAugmentTest {
    private static final int[] FILL = {124, 116, 104};

    @Test void theOfficialStringSelectsTimmsIncreasingSet() {
        RandAugment ra = RandAugment.parse("rand-m9-mstd0.5-inc1", FILL);
        assertEquals(2, ra.numLayers());
        assertEquals(9.0, ra.magnitude());
        assertEquals(0.5, ra.magnitudeStd());
        assertEquals(List.of("AutoContrast", "Equalize", "Invert", "Rotate", "PosterizeIncreasing", "SolarizeIncreasing",
                "SolarizeAdd", "ColorIncreasing", "ContrastIncreasing", "BrightnessIncreasing", "SharpnessIncreasing",
                "ShearX", "ShearY", "TranslateXRel", "TranslateYRel"), ra.ops().stream().map(o -> o.timmName).toList());
        assertArrayEquals(FILL, AugmentConfig.official(224).fillColor());
    }

    @Test void otherStringsParseAsTimmDoes() {
        RandAugment plain = RandAugment.parse("rand-m7-n3", FILL);
        assertEquals(RandAugment.DEFAULT_OPS, plain.ops());
        assertEquals(3, plain.numLayers());
        assertEquals(7.0, plain.magnitude());
        assertEquals(0.0, plain.magnitudeStd());
        RandAugment defaults = RandAugment.parse("rand", FILL);
        assertEquals(10.0, defaults.magnitude());
        assertEquals(2, defaults.numLayers());
        assertEquals(RandAugment.INCREASING_OPS, RandAugment.parse("rand-inc0", FILL).ops(), "timm's bool('0') is True");
        assertEquals(RandAugment.DEFAULT_OPS, RandAugment.parse("rand-inc-m9", FILL).ops(), "a section without a digit is skipped");
        assertNull(RandAugment.parse(null, FILL));
        assertNull(RandAugment.parse("none", FILL));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> RandAugment.parse("rand-x5", FILL)).getMessage().contains("x5"));
        assertThrows(IllegalArgumentException.class, () -> RandAugment.parse("augmix-m3", FILL));
        assertThrows(IllegalArgumentException.class, () -> RandAugment.parse("rand-m9-w0", FILL));
        assertThrows(IllegalArgumentException.class, () -> RandAugment.parse("rand-m9.5.1", FILL));
    }

    @Test void levelFunctionsAtMagnitudeNine() {
        SplittableRandom rng = new SplittableRandom(5);
        assertEquals(27.0, Math.abs(Op.ROTATE.level(9, rng)), 1e-12);
        assertEquals(1.0, Op.POSTERIZE_INCREASING.level(9, rng));  // 4 − int(3.6)
        assertEquals(0.0, Op.POSTERIZE_INCREASING.level(10, rng));
        assertEquals(4.0, Op.POSTERIZE_INCREASING.level(0, rng));
        assertEquals(26.0, Op.SOLARIZE_INCREASING.level(9, rng));  // 256 − int(230.4)
        assertEquals(99.0, Op.SOLARIZE_ADD.level(9, rng));  // int(99.000…01)
        assertEquals(0.81, Math.abs(Op.COLOR_INCREASING.level(9, rng) - 1), 1e-12);
        assertEquals(0.27, Math.abs(Op.SHEAR_X.level(9, rng)), 1e-12);
        assertEquals(0.405, Math.abs(Op.TRANSLATE_Y_REL.level(9, rng)), 1e-12);
        assertEquals(1.72, Op.CONTRAST.level(9, rng), 1e-12);  // the non-increasing variant: 0.1 + 1.8·0.9
        assertTrue(Double.isNaN(Op.EQUALIZE.level(9, rng)));
    }

    @Test void selectionIsUniformWithReplacementAndHalfTheOpsRun() {
        RandAugment ra = RandAugment.parse("rand-m9-mstd0.5-inc1", FILL);
        int trials = 30_000;
        int[] picks = new int[15];
        int same = 0, applied = 0, drawn = 0, negative = 0, signed = 0;
        double sum = 0, sumSq = 0, min = 99, max = -1;
        for (int i = 0; i < trials; i++) {
            List<Step> plan = ra.plan(Rng.of(11, i));
            assertEquals(2, plan.size());
            if (plan.get(0).op() == plan.get(1).op()) same++;
            for (Step s : plan) {
                picks[ra.ops().indexOf(s.op())]++;
                drawn++;
                if (!s.applied()) continue;
                applied++;
                sum += s.magnitude();
                sumSq += s.magnitude() * s.magnitude();
                min = Math.min(min, s.magnitude());
                max = Math.max(max, s.magnitude());
                if (s.op() == Op.ROTATE || s.op() == Op.SHEAR_X || s.op() == Op.TRANSLATE_X_REL) {
                    signed++;
                    if (s.argument() < 0) negative++;
                }
            }
        }
        double expected = drawn / 15.0;
        for (int k = 0; k < 15; k++) {
            assertEquals(expected, picks[k], 5 * Math.sqrt(expected), "picks of " + ra.ops().get(k));
        }
        assertEquals(trials / 15.0, same, 5 * Math.sqrt(trials / 15.0), "pairs of the same op (drawn with replacement)");
        assertEquals(0.5, (double) applied / drawn, 0.01);
        double mean = sum / applied, std = Math.sqrt(sumSq / applied - mean * mean);
        // N(9, 0.5) clipped at 10 (2.3% of draws): mean 8.9958, std 0.4898 (numerically integrated).
        assertEquals(8.9958, mean, 0.008);
        assertEquals(0.4898, std, 0.006);
        assertTrue(min >= 0 && max <= 10 && max > 10 - 1e-9, "magnitudes clipped to [0, 10], max " + max);
        assertEquals(0.5, (double) negative / signed, 0.03);
    }

    @Test void theSameGeneratorGivesTheSameImage() {
        RandAugment ra = RandAugment.parse("rand-m9-mstd0.5-inc1", FILL);
        RgbImage img = Images.picture(40, 30);
        int differs = 0;
        for (int i = 0; i < 40; i++) {
            RgbImage a = ra.apply(img, Rng.of(3, i)), b = ra.apply(img, Rng.of(3, i));
            assertArrayEquals(a.rgb(), b.rgb());
            boolean anyApplied = ra.plan(Rng.of(3, i)).stream().anyMatch(Step::applied);
            if (!anyApplied) assertArrayEquals(img.rgb(), a.rgb(), "no op ran, the image is unchanged");
            if (!java.util.Arrays.equals(img.rgb(), a.rgb())) differs++;
        }
        assertTrue(differs > 20, "most images change: " + differs);
        assertNotEquals(ra.plan(Rng.of(3, 0)), ra.plan(Rng.of(3, 1)));
    }

    @Test void grayImagesStayGray() {
        // Every op treats the three channels alike, so a gray image (Fashion-MNIST) stays gray.
        RandAugment ra = RandAugment.parse("rand-m9-mstd0.5-inc1", new int[] {100, 100, 100});
        RgbImage gray = FashionMnist.bundled("test").image(3);
        for (int i = 0; i < 200; i++) {
            byte[] out = ra.apply(gray, Rng.of(8, i)).rgb();
            for (int p = 0; p < out.length; p += 3) {
                assertFalse(out[p] != out[p + 1] || out[p] != out[p + 2], "pixel " + p / 3 + " of trial " + i);
            }
        }
    }
}
