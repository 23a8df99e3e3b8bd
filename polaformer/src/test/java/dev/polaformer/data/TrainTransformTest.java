package dev.polaformer.data;

import dev.polaformer.infer.Preprocess;
import dev.polaformer.infer.Resample;
import dev.polaformer.infer.RgbImage;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TrainTransformTest {
    private static float[] normalized(RgbImage img, AugmentConfig c) {
        float[] out = new float[img.rgb().length];
        for (int i = 0; i < out.length; i++) out[i] = ((img.rgb()[i] & 0xff) / 255f - c.mean()[i % 3]) / c.std()[i % 3];
        return out;
    }

    @Test void sameSeedSameOutputOtherSeedOtherOutput() {
        TrainTransform t = new TrainTransform(AugmentConfig.official(32));
        RgbImage img = FashionMnist.bundled("test").image(0);
        float[] a = new float[5 + 32 * 32 * 3], b = new float[32 * 32 * 3];
        int distinct = 0;
        float[] previous = null;
        for (int i = 0; i < 50; i++) {
            t.apply(img, Rng.of(9, 0, i), a, 5);
            t.apply(img, Rng.of(9, 0, i), b, 0);
            assertArrayEquals(b, Arrays.copyOfRange(a, 5, a.length), "sample " + i);
            for (float v : b) assertTrue(Float.isFinite(v));
            if (previous != null && !Arrays.equals(previous, b)) distinct++;
            previous = b.clone();
        }
        assertTrue(distinct >= 48, "different draws give different images: " + distinct);
        assertEquals(0f, a[0]);
    }

    @Test void noneIsAPlainResize() {
        RgbImage img = Images.picture(28, 28);
        AugmentConfig same = AugmentConfig.none(28), up = AugmentConfig.none(32);
        float[] out = new float[28 * 28 * 3];
        new TrainTransform(same).apply(img, new SplittableRandom(1), out, 0);
        assertArrayEquals(normalized(img, same), out, "same size: no resampling at all");
        float[] big = new float[32 * 32 * 3];
        new TrainTransform(up).apply(img, new SplittableRandom(2), big, 0);
        assertArrayEquals(normalized(Preprocess.resize(img, 32, 32), up), big);
        // Non-square: the central square (timm's no-aug Resize + CenterCrop).
        RgbImage wide = Images.picture(40, 20);
        new TrainTransform(AugmentConfig.none(20)).apply(wide, new SplittableRandom(3), out = new float[20 * 20 * 3], 0);
        assertArrayEquals(normalized(Resample.resizedCrop(wide, 10, 0, 20, 20, 20, 20), AugmentConfig.none(20)), out);
    }

    @Test void flipOnlyConfigMirrors() {
        AugmentConfig flip = new AugmentConfig(16, 1, 1, 1, 1, 1.0, "none", 0, "pixel", Preprocess.IMAGENET_MEAN, Preprocess.IMAGENET_STD);
        RgbImage img = Images.picture(16, 16);
        float[] out = new float[16 * 16 * 3];
        new TrainTransform(flip).apply(img, new SplittableRandom(4), out, 0);
        assertArrayEquals(normalized(PixelOps.hflip(img), flip), out);
    }

    @Test void flipHappensHalfTheTime() {
        AugmentConfig half = new AugmentConfig(8, 1, 1, 1, 1, 0.5, null, 0, "pixel", Preprocess.IMAGENET_MEAN, Preprocess.IMAGENET_STD);
        RgbImage img = Images.picture(8, 8);
        float[] plain = normalized(img, half), out = new float[8 * 8 * 3];
        int same = 0;
        for (int i = 0; i < 2000; i++) {
            new TrainTransform(half).apply(img, Rng.of(5, i), out, 0);
            if (Arrays.equals(plain, out)) same++;
        }
        assertEquals(1000, same, 5 * Math.sqrt(500));
    }

    @Test void grayInputWithoutErasingStaysGray() {
        AugmentConfig c = AugmentConfig.official(32);
        c = new AugmentConfig(32, c.scaleMin(), c.scaleMax(), c.ratioMin(), c.ratioMax(), c.hflip(), c.randAugment(), 0, "pixel",
                new float[] {0.3f, 0.3f, 0.3f}, new float[] {0.35f, 0.35f, 0.35f});
        TrainTransform t = new TrainTransform(c);
        float[] out = new float[32 * 32 * 3];
        FashionMnist data = FashionMnist.bundled("test");
        for (int i = 0; i < 100; i++) {
            t.apply(data.image(i), Rng.of(6, i), out, 0);
            for (int p = 0; p < out.length; p += 3) assertFalse(out[p] != out[p + 1] || out[p] != out[p + 2], "sample " + i);
        }
    }

    @Test void erasingShowsUpAboutAQuarterOfTheTime() {
        // Without RandAugment and flip, an erased image is the only one whose pixels leave the 8-bit grid.
        AugmentConfig c = new AugmentConfig(16, 1, 1, 1, 1, 0, null, 0.25, "pixel", Preprocess.IMAGENET_MEAN, Preprocess.IMAGENET_STD);
        RgbImage img = Images.picture(16, 16);
        float[] plain = normalized(img, c), out = new float[16 * 16 * 3];
        int erased = 0;
        for (int i = 0; i < 2000; i++) {
            new TrainTransform(c).apply(img, Rng.of(7, i), out, 0);
            if (!Arrays.equals(plain, out)) erased++;
        }
        assertEquals(500, erased, 5 * Math.sqrt(375));
    }

    @Test void evalTransformIsTheOfficialPreprocess() {
        Preprocess p = Preprocess.imagenet(32);
        RgbImage img = Images.picture(50, 37);
        float[] out = new float[3 + 32 * 32 * 3];
        new EvalTransform(p).apply(img, new SplittableRandom(0), out, 3);
        assertArrayEquals(p.apply(img), Arrays.copyOfRange(out, 3, out.length));
        assertEquals(32, new EvalTransform(p).size());
    }

    @Test void badConfigsFailEarly() {
        assertThrows(IllegalArgumentException.class, () -> new AugmentConfig(0, 0.08, 1, 0.75, 1.33, 0.5, null, 0, "pixel",
                Preprocess.IMAGENET_MEAN, Preprocess.IMAGENET_STD));
        assertThrows(IllegalArgumentException.class, () -> new AugmentConfig(8, 0.5, 0.1, 0.75, 1.33, 0.5, null, 0, "pixel",
                Preprocess.IMAGENET_MEAN, Preprocess.IMAGENET_STD));
        assertThrows(IllegalArgumentException.class, () -> new AugmentConfig(8, 0.08, 1, 0.75, 1.33, 0.5, "rand-q3", 0, "pixel",
                Preprocess.IMAGENET_MEAN, Preprocess.IMAGENET_STD));
        assertThrows(IllegalArgumentException.class, () -> new AugmentConfig(8, 0.08, 1, 0.75, 1.33, 0.5, null, 0.25, "blur",
                Preprocess.IMAGENET_MEAN, Preprocess.IMAGENET_STD));
        assertEquals(AugmentConfig.official(224), AugmentConfig.official(224));
    }
}
