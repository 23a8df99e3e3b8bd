package dev.polaformer.train;

import dev.polaformer.data.Dataset;
import dev.polaformer.data.FashionMnist;
import dev.polaformer.infer.RgbImage;
import dev.polaformer.io.SafetensorsFile;
import dev.polaformer.model.Variant;
import dev.polaformer.numerics.Backends;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Training N iterations in one go and training N/2, stopping, and resuming in a new JVM for the rest give
 * bit-identical weights. The run crosses an epoch boundary and uses every random stream (Mixup/CutMix,
 * RandAugment, erasing, stochastic depth).
 */
class ResumeTest {
    static final int STEPS = 8;

    @TempDir
    Path dir;

    /** A small slice of the bundled Fashion-MNIST: 40 training images (5 batches of 8), 16 for validation. */
    static Dataset slice(String split, int n) {
        Dataset d = FashionMnist.bundled(split);
        return new Dataset() {
            public int size() { return n; }
            public int numClasses() { return d.numClasses(); }
            public List<String> classNames() { return d.classNames(); }
            public int label(int i) { return d.label(i); }
            public RgbImage image(int i) throws IOException { return d.image(i); }
            public String describe(int i) { return d.describe(i); }
        };
    }

    static TrainConfig config() {
        return new TrainConfig(Variant.B0, 10, 32, 3, 1, 0, 8, 1e-3, 1e-5, 1e-5, 0.05, 1.0, 0.1, 0.8, 1.0, 1.0, 0.5,
                0.1, 0.99, "rand-m9-mstd0.5-inc1", 0.25, 0.08, 11, 2);
    }

    /** Trains up to {@code maxSteps} more iterations in {@code out}. Also the child JVM's entry point. */
    static void train(Path out, boolean resume, long maxSteps) throws IOException {
        PrintStream quiet = new PrintStream(OutputStream.nullOutputStream());
        try (Trainer t = new Trainer(config(), slice("train", 40), slice("test", 16), Backends.get(), new Trainer.Options(out,
                resume, maxSteps, 16, 2, quiet, new Progress(quiet, false, 1e9)))) {
            t.run();
        }
    }

    public static void main(String[] args) throws IOException {
        train(Path.of(args[0]), true, Long.parseLong(args[1]));
    }

    @Test
    void resumingInANewJvmGivesTheSameWeightsBitForBit() throws Exception {
        Path whole = dir.resolve("whole"), split = dir.resolve("split");
        train(whole, false, STEPS);
        train(split, false, STEPS / 2);
        runChild(split, STEPS / 2);

        try (SafetensorsFile a = SafetensorsFile.open(whole.resolve("checkpoint.safetensors"));
             SafetensorsFile b = SafetensorsFile.open(split.resolve("checkpoint.safetensors"))) {
            assertEquals(Checkpoint.header(a).position(), Checkpoint.header(b).position());
            assertEquals(STEPS, Checkpoint.header(b).position().step());
            int compared = 0;
            for (String name : a.entries().keySet()) {
                if (a.entry(name).dtype() == dev.polaformer.io.DType.I64) {
                    assertArrayEquals(a.longs(name), b.longs(name), name);
                } else {
                    assertArrayEquals(a.floats(name), b.floats(name), name);
                }
                compared++;
            }
            assertTrue(compared > 600, "model, EMA and optimizer state all compared: " + compared);
        }
    }

    private static void runChild(Path out, long steps) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> cmd = new ArrayList<>(List.of(java, "--add-modules=jdk.incubator.vector", "-cp",
                System.getProperty("java.class.path")));
        for (String p : new String[] {"polaformer.backend", "polaformer.threads"}) {
            if (System.getProperty(p) != null) cmd.add("-D" + p + "=" + System.getProperty(p));
        }
        cmd.addAll(List.of(ResumeTest.class.getName(), out.toString(), String.valueOf(steps)));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), "the resuming JVM failed:\n" + log);
    }
}
