package dev.polaformer.train;

import dev.polaformer.io.SafetensorsFile;
import dev.polaformer.model.Variant;
import dev.polaformer.numerics.Backends;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TrainerTest {
    @TempDir
    Path dir;

    private static TrainConfig config(int epochs) {
        return new TrainConfig(Variant.B0, 10, 32, epochs, 0, 0, 8, 1e-3, 1e-5, 1e-5, 0.05, 5.0, 0.1, 0, 0, 1, 0.5,
                0, 0.9, "none", 0, 0.75, 5, 2);
    }

    private Trainer trainer(TrainConfig c, Path out, boolean resume, PrintStream log) {
        PrintStream quiet = new PrintStream(OutputStream.nullOutputStream());
        return new Trainer(c, ResumeTest.slice("train", 24), ResumeTest.slice("test", 16), Backends.get(),
                new Trainer.Options(out, resume, 0, 16, 2, log, new Progress(quiet, false, 1e9)));
    }

    @Test
    void anEpochWritesMetricsChartCheckpointAndFinalWeights() throws Exception {
        Path out = dir.resolve("run");
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        try (Trainer t = trainer(config(1), out, false, new PrintStream(log, true, StandardCharsets.UTF_8))) {
            var outcome = t.run();
            assertTrue(outcome.finished());
            assertEquals(16, outcome.lastEval().count());
        }
        for (String f : new String[] {"checkpoint.safetensors", "metrics.jsonl", "curves.png", "model.safetensors",
                "model_ema.safetensors"}) {
            assertTrue(Files.size(out.resolve(f)) > 0, f);
        }
        List<Map<String, Object>> records = Metrics.read(out.resolve("metrics.jsonl"));
        assertEquals(3, records.stream().filter(r -> "step".equals(r.get("type"))).count(), "24 images / batch 8");
        Map<String, Object> epoch = records.get(records.size() - 1);
        assertEquals("epoch", epoch.get("type"));
        for (String k : new String[] {"train_loss", "val_loss", "top1", "top5", "ema_top1", "ema_top5"}) {
            assertTrue(epoch.get(k) instanceof Number, k + " in " + epoch);
        }
        assertTrue(log.toString(StandardCharsets.UTF_8).contains("validation top-1"), log.toString(StandardCharsets.UTF_8));
        var e = assertThrows(IllegalArgumentException.class, () -> trainer(config(1), out, false, System.out).run());
        assertTrue(e.getMessage().contains("--resume"), "an existing run is not overwritten: " + e.getMessage());
    }

    @Test
    void aStopRequestSavesACheckpointThatResumes() throws Exception {
        Path out = dir.resolve("stop");
        PrintStream quiet = new PrintStream(OutputStream.nullOutputStream());
        try (Trainer t = trainer(config(2), out, false, quiet)) {
            t.requestStop();
            var outcome = t.run();
            assertFalse(outcome.finished());
            assertEquals(new Checkpoint.Position(0, 1, 1), outcome.position(), "stopped after the first iteration");
        }
        try (SafetensorsFile f = SafetensorsFile.open(out.resolve("checkpoint.safetensors"))) {
            assertEquals(1, Checkpoint.header(f).position().step());
        }
        try (Trainer t = trainer(config(2), out, true, quiet)) {
            var outcome = t.run();
            assertTrue(outcome.finished());
            assertEquals(6, outcome.position().step());
        }
        var e = assertThrows(IllegalArgumentException.class, () -> trainer(config(3), out, true, quiet).run());
        assertTrue(e.getMessage().contains("another configuration"), e.getMessage());
    }

    @Test
    void aNonFiniteGradientStopsNamingTheStepAndTheParameter() throws Exception {
        Path out = dir.resolve("nan");
        PrintStream quiet = new PrintStream(OutputStream.nullOutputStream());
        try (Trainer t = trainer(config(1), out, false, quiet)) {
            float[] w = t.model().layers.get(1).blocks.get(0).ffn.fc2.weight.toArray();
            w[3] = Float.NaN;
            t.model().layers.get(1).blocks.get(0).ffn.fc2.weight.set(w);
            var e = assertThrows(TrainingDivergedException.class, t::run);
            assertTrue(e.getMessage().startsWith("training diverged at iteration 0 (epoch 1, batch 0)"), e.getMessage());
            assertTrue(e.getMessage().contains("not finite"), e.getMessage());
            assertTrue(e.getMessage().contains("layers.1.blocks.0.ffn.fc2.weight"), "names the parameter: " + e.getMessage());
            assertTrue(e.getMessage().contains("no checkpoint had been written yet"), e.getMessage());
        }
        assertFalse(Files.exists(out.resolve("checkpoint.safetensors")));
    }
}
