package dev.polaformer.train;

import dev.polaformer.model.Parameter;
import dev.polaformer.model.PolaFormer;
import dev.polaformer.model.Variant;
import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.Backends;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Each recipe piece against a case computed by hand (or from the spec's worked numbers). */
class RecipeTest {
    private final Backend backend = Backends.get("reference");

    @Test
    void learningRateScheduleReproducesTheOfficialB0Values() {
        // b0 on 8 GPUs: total batch 2048 → ×4 scaling, 625 iterations per epoch (spec §5.3).
        TrainConfig c = TrainConfig.official(Variant.B0);
        c = new TrainConfig(c.variant(), 1000, 224, 300, 20, 0, 2048, c.baseLr(), c.warmupLr(), c.minLr(),
                c.weightDecay(), c.clipGrad(), 0.1, 0.8, 1, 1, 0.5, 0.1, 0.99982, "rand-m9-mstd0.5-inc1", 0.25, 0.08, 0, 1);
        LrSchedule s = LrSchedule.of(c, 625);
        assertEquals(2e-6, s.at(0), 1e-15);
        assertEquals(1.001e-3, s.at(6250), 1e-9);
        assertEquals(1.99984e-3, s.at(12499), 1e-8);
        assertEquals(1.97815e-3, s.at(12500), 1e-8);
        assertEquals(1.6692e-3, s.at(50000), 1e-7);
        assertEquals(8.957e-4, s.at(100000), 1e-7);
        assertEquals(4e-7, s.at(187500), 1e-15);
        assertEquals(4e-7, s.at(500000), 1e-15, "after T: the minimum (cooldown)");
        // the trainer's off-by-one: iteration k runs with lr(k − 1), iteration 0 with the warmup value
        assertEquals(s.at(0), s.forIteration(0));
        assertEquals(s.at(0), s.forIteration(1));
        assertEquals(s.at(41), s.forIteration(42));
    }

    @Test
    void weightDecayGroupsAreTheOfficialOnes() {
        try (PolaFormer m = new PolaFormer(backend, Variant.B0, 1000)) {
            int decay = 0, noDecay = 0;
            long noDecayNumbers = 0;
            for (var e : m.namedParameters().entrySet()) {
                if (AdamW.decays(e.getKey(), e.getValue().shape())) decay++;
                else {
                    noDecay++;
                    noDecayNumbers += e.getValue().value().size();
                }
            }
            assertEquals(89, decay);
            assertEquals(113, noDecay);
            assertEquals(32_216, noDecayNumbers);
        }
        assertTrue(AdamW.decays("layers.0.blocks.0.attn.s1", new int[] {1, 1, 1, 64}), "s1 is 4-D: decayed");
        assertTrue(AdamW.decays("layers.0.blocks.0.gamma_1", new int[] {1, 32, 1, 1}), "gammas are 4-D: decayed");
        assertFalse(AdamW.decays("norm.weight", new int[] {2048}), "1-D: not decayed");
        assertFalse(AdamW.decays("head.bias", new int[] {1000}));
    }

    @Test
    void adamWStepMatchesTheFormula() {
        Map<String, Parameter> params = new LinkedHashMap<>();
        try (PolaFormer m = new PolaFormer(backend, Variant.B0, 2)) {
            Parameter w = m.head.weight, b = m.head.bias;
            params.put("head.weight", w);
            params.put("head.bias", b);
            float[] w0 = new float[w.value().size()];
            w0[0] = 0.5f;
            w.set(w0);
            float[] g = new float[w0.length];
            g[0] = 0.2f;
            w.grad().storage().write(0, g, 0, g.length);
            b.grad();
            try (AdamW opt = new AdamW(backend, params, 0.05)) {
                opt.step(0.01);
                // step 1: p·(1 − lr·wd) − lr/(1−β1) · m/(√v/√(1−β2) + ε), m = 0.1·g, v = 0.001·g² → the update is lr·sign(g)
                double p = 0.5 * (1 - 0.01 * 0.05);
                double mm = 0.1 * 0.2, vv = 0.001 * 0.04;
                p -= 0.01 / 0.1 * mm / (Math.sqrt(vv) / Math.sqrt(0.001) + 1e-8);
                assertEquals(p, w.toArray()[0], 1e-7);
                assertEquals(0f, w.toArray()[1], "zero gradient and zero value stay zero");
                opt.step(0.01);
                double m2 = 0.9 * mm + 0.1 * 0.2, v2 = 0.999 * vv + 0.001 * 0.04;
                double p2 = p * (1 - 0.01 * 0.05) - 0.01 / (1 - 0.81) * m2 / (Math.sqrt(v2) / Math.sqrt(1 - 0.999 * 0.999) + 1e-8);
                assertEquals(p2, w.toArray()[0], 1e-7);
            }
        }
    }

    @Test
    void mixupBlendsPairsAndTargets() {
        Mixup mix = new Mixup(0.8, 1.0, 1.0, 0.5, 0.1, 4);
        float[] x = {1, 2, 10, 20};                       // batch 2 of 1×2×1 images
        Mixup.Decision d = new Mixup.Decision(0.75, false, 0, 0, 0, 0);
        float[] t = mix.apply(d, x, 2, 1, 2, 1, new int[] {0, 3});
        assertArrayEquals(new float[] {0.75f * 1 + 0.25f * 10, 0.75f * 2 + 0.25f * 20, 0.75f * 10 + 0.25f * 1, 0.75f * 20 + 0.25f * 2}, x);
        // smoothing 0.1 over 4 classes: off 0.025, on 0.925; sample 0 = 0.75·onehot(0) + 0.25·onehot(3)
        assertArrayEquals(new float[] {0.75f * 0.925f + 0.25f * 0.025f, 0.025f, 0.025f, 0.75f * 0.025f + 0.25f * 0.925f,
                0.75f * 0.025f + 0.25f * 0.925f, 0.025f, 0.025f, 0.75f * 0.925f + 0.25f * 0.025f}, t, 1e-7f);
    }

    @Test
    void cutmixPastesTheBoxFromTheReversedBatchAndCorrectsLambda() {
        Mixup mix = new Mixup(0, 1.0, 1.0, 0.5, 0, 2);
        // 4×4 images, box rows 1..3, cols 0..2: area 4 of 16 → λ = 0.75
        Mixup.Decision d = new Mixup.Decision(0.75, true, 1, 3, 0, 2);
        float[] x = new float[2 * 16];
        for (int i = 0; i < 16; i++) {
            x[i] = 1;
            x[16 + i] = 2;
        }
        float[] t = mix.apply(d, x, 2, 4, 4, 1, new int[] {0, 1});
        for (int y = 0; y < 4; y++)
            for (int c = 0; c < 4; c++) {
                boolean in = y >= 1 && y < 3 && c < 2;
                assertEquals(in ? 2f : 1f, x[y * 4 + c], "image 0 at " + y + "," + c);
                assertEquals(in ? 1f : 2f, x[16 + y * 4 + c], "image 1 at " + y + "," + c);
            }
        assertArrayEquals(new float[] {0.75f, 0.25f, 0.25f, 0.75f}, t, 1e-7f);

        // Drawn boxes: sides int(H·√(1−λ)), clipped to the image, λ corrected to the pasted area.
        SplittableRandom r = new SplittableRandom(1);
        for (int i = 0; i < 200; i++) {
            Mixup.Decision e = mix.decide(r, 32, 24);
            assertTrue(e.cutmix());
            assertTrue(0 <= e.y0() && e.y0() <= e.y1() && e.y1() <= 32 && 0 <= e.x0() && e.x0() <= e.x1() && e.x1() <= 24);
            assertEquals(1 - (double) (e.y1() - e.y0()) * (e.x1() - e.x0()) / (32 * 24), e.lambda(), 1e-12);
        }
    }

    @Test
    void mixupSwitchesBetweenMixupAndCutmixAtTheConfiguredRate() {
        Mixup mix = new Mixup(0.8, 1.0, 1.0, 0.5, 0.1, 10);
        SplittableRandom r = new SplittableRandom(3);
        int cut = 0, n = 4000;
        double lamSum = 0;
        for (int i = 0; i < n; i++) {
            Mixup.Decision d = mix.decide(r, 32, 32);
            if (d.cutmix()) cut++;
            else lamSum += d.lambda();
        }
        assertEquals(0.5, cut / (double) n, 0.03);
        assertEquals(0.5, lamSum / (n - cut), 0.03, "Beta(0.8, 0.8) has mean 1/2");
        assertThrows(IllegalArgumentException.class, () -> mix.apply(new Mixup.Decision(0.5, false, 0, 0, 0, 0),
                new float[3], 3, 1, 1, 1, new int[] {0, 1, 2}));
    }

    @Test
    void emaUpdatesEveryStateEntryIncludingTheCounter() {
        try (PolaFormer m = new PolaFormer(backend, Variant.B0, 2)) {
            m.norm.runningMean.set(filled(2048, 1f));
            m.norm.batchesTracked.set(100);
            try (Ema ema = new Ema(m, 0.9)) {
                assertArrayEquals(m.norm.runningMean.toArray(), ema.model().norm.runningMean.toArray());
                m.norm.runningMean.set(filled(2048, 3f));
                m.head.bias.set(new float[] {10, -10});
                m.norm.batchesTracked.set(120);
                ema.update(m);
                assertEquals(0.9f * 1 + 0.1f * 3, ema.model().norm.runningMean.toArray()[7], 1e-6);
                assertArrayEquals(new float[] {1, -1}, ema.model().head.bias.toArray(), 1e-6f);
                assertEquals(102, ema.model().norm.batchesTracked.get(), "0.9·100 + 0.1·120, truncated");
            }
        }
    }

    @Test
    void clippingScalesByTheGlobalNorm() {
        try (PolaFormer m = new PolaFormer(backend, Variant.B0, 2)) {
            Map<String, Parameter> p = new LinkedHashMap<>();
            p.put("head.bias", m.head.bias);
            p.put("norm.bias", m.norm.bias);
            m.head.bias.grad().storage().write(0, new float[] {3, 0}, 0, 2);
            float[] g = new float[2048];
            g[0] = 4;
            m.norm.bias.grad().storage().write(0, g, 0, g.length);
            assertEquals(5, GradientClipping.clip(backend, p, 10), 1e-12, "under the limit: unchanged");
            assertEquals(3f, m.head.bias.grad().toArray()[0]);
            assertEquals(5, GradientClipping.clip(backend, p, 1), 1e-12);
            double coef = 1 / (5 + 1e-6);
            assertEquals(3 * coef, m.head.bias.grad().toArray()[0], 1e-6);
            assertEquals(4 * coef, m.norm.bias.grad().toArray()[0], 1e-6);
            m.norm.bias.grad().storage().write(5, new float[] {Float.NaN}, 0, 1);
            var e = assertThrows(ArithmeticException.class, () -> GradientClipping.clip(backend, p, 1));
            assertTrue(e.getMessage().contains("norm.bias"), e.getMessage());
        }
    }

    private static float[] filled(int n, float v) {
        float[] a = new float[n];
        java.util.Arrays.fill(a, v);
        return a;
    }
}
