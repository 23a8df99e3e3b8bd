package dev.polaformer.model;

import dev.polaformer.infer.Predictor;
import dev.polaformer.io.SafetensorsFile;
import dev.polaformer.io.TensorSource;
import dev.polaformer.io.Weights;
import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.Backends;
import dev.polaformer.numerics.TestData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static dev.polaformer.numerics.Closeness.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PolaFormerTest {
    @TempDir
    Path dir;

    @Test
    void inputsOfTheWrongSizeAreRefused() {
        try (Predictor p = Predictor.random(Backends.get("cpu"), Variant.B0, 10, 1, 64)) {
            for (int[] hw : new int[][] {{48, 64}, {64, 40}, {16, 16}}) {
                var e = assertThrows(IllegalArgumentException.class,
                        () -> p.logits(new float[hw[0] * hw[1] * 3], 1, hw[0], hw[1]));
                assertTrue(e.getMessage().contains("multiples of 32"), e.getMessage());
            }
            var e = assertThrows(IllegalArgumentException.class, () -> p.logits(new float[10], 1, 64, 64));
            assertTrue(e.getMessage().contains("expected 12288 floats"), e.getMessage());
        }
    }

    /** Non-square inputs run, and the CPU backend agrees with the reference end to end (RoPE at H≠W included). */
    @Test
    void nonSquareInputOnCpuMatchesTheReference() {
        int b = 2, h = 64, w = 96;
        float[] x = TestData.normal(5, b * h * w * 3);
        float[] ref, cpu;
        try (Predictor p = Predictor.random(Backends.get("reference"), Variant.B0, 10, 3, 64)) {
            ref = p.logits(x, b, h, w);
        }
        try (Predictor p = Predictor.random(Backends.get("cpu"), Variant.B0, 10, 3, 64)) {
            cpu = p.logits(x, b, h, w);
        }
        assertEquals(b * 10, cpu.length);
        assertClose("b0 logits at 64×96", ref, cpu, 1e-4, 1e-3);
    }

    @Test
    void onePredictorServesConcurrentCallers() throws Exception {
        try (Predictor p = Predictor.random(Backends.get("cpu"), Variant.B0, 10, 7, 64)) {
            List<float[]> inputs = new ArrayList<>();
            List<float[]> serial = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                inputs.add(TestData.normal(100 + i, 64 * 64 * 3));
                serial.add(p.logits(inputs.get(i), 1, 64, 64));
            }
            ExecutorService pool = Executors.newFixedThreadPool(4);
            try {
                List<Future<float[]>> results = new ArrayList<>();
                for (int round = 0; round < 3; round++) {
                    for (int i = 0; i < 4; i++) {
                        float[] in = inputs.get(i);
                        results.add(pool.submit(() -> p.logits(in, 1, 64, 64)));
                    }
                }
                for (int k = 0; k < results.size(); k++) {
                    assertArrayEquals(serial.get(k % 4), results.get(k).get(), "call " + k + " differs from its serial run");
                }
            } finally {
                pool.shutdown();
            }
        }
    }

    @Test
    void savedWeightsLoadBackExactlyAndTheVariantIsDetected() throws Exception {
        Backend backend = Backends.get("cpu");
        Path file = dir.resolve("b1.safetensors");
        try (PolaFormer m = new PolaFormer(backend, Variant.B1, 7)) {
            Initializer.initialize(m, 42);
            Weights.save(m, file, Map.of("note", "test"));
            try (Predictor p = Predictor.load(backend, file, null, true, 64)) {
                assertSame(Variant.B1, p.model().variant);
                assertEquals(7, p.model().numClasses);
                var a = m.stateDict();
                var b = p.model().stateDict();
                for (String k : a.keySet()) {
                    if (a.get(k) instanceof Parameter pa) {
                        assertArrayEquals(pa.toArray(), ((Parameter) b.get(k)).toArray(), k);
                    }
                }
            }
        }
        try (TensorSource src = TensorSource.of(SafetensorsFile.open(file))) {
            assertSame(Variant.B1, Variant.detect(src::shape, src.names()));
        }
    }

    @Test
    void initializationFollowsTheOfficialScheme() {
        try (PolaFormer m = new PolaFormer(Backends.get("reference"), Variant.B4, 10)) {
            Initializer.initialize(m, 1);
            Block late = m.layers.get(3).blocks.get(0), early = m.layers.get(0).blocks.get(0);
            assertEquals(1e-6f, late.gamma1.toArray()[0], "b4 stage 3 layerscale init");
            assertEquals(1f, early.gamma2.toArray()[5]);
            assertArrayEquals(new float[2 * early.dim], ((PolaLinearAttention) early.attn).s1.toArray(), "s1 = 0: (1, heads, 1, 2·head_dim)");
            float[] qkvg = early.attn.fused.weight.toArray();
            double bound = 1 / Math.sqrt(early.dim), max = 0;
            for (float v : qkvg) max = Math.max(max, Math.abs(v));
            assertTrue(max <= bound && max > 0.9 * bound, "Linear weights are U(±1/√fan_in): max " + max);
            float[] conv = m.proj.weight.toArray();
            double ss = 0;
            for (float v : conv) ss += v * v;
            assertEquals(0.02, Math.sqrt(ss / conv.length), 0.001, "conv weights have std 0.02");
            assertArrayEquals(new float[m.proj.out], m.proj.bias.toArray());
        }
    }
}
