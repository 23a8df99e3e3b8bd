package dev.polaformer.golden;

import dev.polaformer.io.SafetensorsFile;
import dev.polaformer.io.TensorSource;
import dev.polaformer.io.Weights;
import dev.polaformer.model.BatchNorm2d;
import dev.polaformer.model.Block;
import dev.polaformer.model.GatedAttention;
import dev.polaformer.model.Module;
import dev.polaformer.model.Parameter;
import dev.polaformer.model.InferencePlan;
import dev.polaformer.model.Pass;
import dev.polaformer.model.PolaFormer;
import dev.polaformer.model.PolaLinearAttention;
import dev.polaformer.model.StateEntry;
import dev.polaformer.model.Variant;
import dev.polaformer.model.VanillaSelfAttention;
import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.Backends;
import dev.polaformer.numerics.ParityBackends;
import dev.polaformer.numerics.RopeTables;
import dev.polaformer.numerics.Tensor;
import dev.polaformer.train.Targets;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static dev.polaformer.golden.Golden.FORWARD_ABS;
import static dev.polaformer.golden.Golden.FORWARD_REL;
import static dev.polaformer.golden.Golden.GRAD_ABS;
import static dev.polaformer.golden.Golden.GRAD_REL;
import static dev.polaformer.golden.Golden.LOSS_ABS;
import static dev.polaformer.golden.Golden.intOf;
import static dev.polaformer.numerics.Closeness.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Runs every file of the golden folder ({@code -Dpolaformer.golden.dir}) on every backend (cuda reported skipped
 * where it cannot run), dispatching on the file's {@code module} tag and {@code config}. A file with a tag this test does not know fails.
 */
class GoldenParityTest {
    /**
     * The backends to run, {@code -Dpolaformer.golden.backends} (comma-separated; the GPU script passes {@code cuda}).
     * One that cannot run here is reported skipped, with its provider's reason, for every file.
     */
    private static final List<String> BACKENDS = ParityBackends.ids("polaformer.golden.backends", "reference,cpu,cuda");

    @TestFactory
    List<DynamicTest> everyGoldenFileOnEveryBackend() throws IOException {
        List<DynamicTest> tests = new ArrayList<>();
        for (Path file : Golden.files()) {
            for (String backend : BACKENDS) {
                tests.add(DynamicTest.dynamicTest(file.getFileName() + " on " + backend, () -> run(file, backend)));
            }
        }
        if (tests.isEmpty()) fail("no .safetensors files in " + Golden.dir());
        return tests;
    }

    private static void run(Path path, String backendId) throws IOException {
        ParityBackends.assumeAvailable(backendId);
        Backend backend = Backends.get(backendId);
        try (SafetensorsFile f = SafetensorsFile.open(path)) {
            String module = Golden.module(f);
            switch (module) {
                case "PolaLinearAttention", "VanillaSelfAttention" -> attentionModule(f, backend, module);
                case "Block" -> block(f, backend);
                case "POLA.eval" -> modelEval(f, backend);
                case "POLA.train_step" -> modelTrainStep(f, backend);
                case "POLA.weights" -> weightsOnly(f, backend);
                default -> fail(path.getFileName() + ": unknown golden module tag '" + module + "'");
            }
        }
    }

    // ================================================================ modules

    private static void attentionModule(SafetensorsFile f, Backend backend, String kind) throws IOException {
        Map<String, Object> cfg = Golden.config(f);
        int dim = intOf(cfg, "dim"), heads = intOf(cfg, "num_heads");
        int b = intOf(cfg, "B"), h = intOf(cfg, "H"), w = intOf(cfg, "W");
        boolean linear = kind.equals("PolaLinearAttention");
        try (GatedAttention attn = linear ? new PolaLinearAttention(backend, dim, heads)
                : new VanillaSelfAttention(backend, dim, heads);
             RopeTables rope = ropeTables(f, backend, linear ? "_l" : "", h, w);
             Pass pass = Pass.withGradients(backend, false, 0)) {
            loadParams(attn, f);
            Tensor y = attn.forward(image(f, "x", pass, b, dim, h, w), rope, pass);
            assertClose(kind + " y", f.floats("y"), nchw(y), FORWARD_ABS, FORWARD_REL);
            Tensor dx = attn.backward(image(f, "gy", pass, b, dim, h, w), pass);
            assertClose(kind + " grad.x", f.floats("grad.x"), nchw(dx), GRAD_ABS, GRAD_REL);
            compareParameterGradients(attn, f);
        }
    }

    private static void block(SafetensorsFile f, Backend backend) throws IOException {
        Map<String, Object> cfg = Golden.config(f);
        int dim = intOf(cfg, "embed_dim"), heads = intOf(cfg, "num_heads"), ffn = intOf(cfg, "ffn_dim");
        int b = intOf(cfg, "B"), h = intOf(cfg, "H"), w = intOf(cfg, "W");
        boolean linear = "l".equals(cfg.get("flag"));
        boolean layerscale = !Boolean.FALSE.equals(cfg.get("layerscale"));
        RopeTables softmaxTables = ropeTables(f, backend, "", h, w), linearTables = ropeTables(f, backend, "_l", h, w);
        try (Block block = new Block(backend, linear, dim, heads, ffn, 0, layerscale);
             Pass pass = Pass.withGradients(backend, false, 0)) {
            loadParams(block, f);
            Tensor y = block.forward(image(f, "x", pass, b, dim, h, w), linear ? linearTables : softmaxTables, pass);
            assertClose("Block y", f.floats("y"), nchw(y), FORWARD_ABS, FORWARD_REL);
            Tensor dx = block.backward(image(f, "gy", pass, b, dim, h, w), pass);
            assertClose("Block grad.x", f.floats("grad.x"), nchw(dx), GRAD_ABS, GRAD_REL);
            compareParameterGradients(block, f);
        } finally {
            softmaxTables.close();
            linearTables.close();
        }
    }

    // ================================================================ whole model

    private static PolaFormer model(SafetensorsFile f, Backend backend, double dropPath) throws IOException {
        Map<String, Object> cfg = Golden.config(f);
        Variant v = Variant.of((String) cfg.get("variant"));
        PolaFormer m = new PolaFormer(backend, v, intOf(cfg, "num_classes"), dropPath);
        Path weights = f.path().resolveSibling((String) cfg.get("weights"));
        try (TensorSource src = TensorSource.of(SafetensorsFile.open(weights))) {
            Weights.load(m, src);
        } catch (RuntimeException | IOException e) {
            m.close();
            throw e;
        }
        return m;
    }

    private static void weightsOnly(SafetensorsFile f, Backend backend) throws IOException {
        Map<String, Object> cfg = Golden.config(f);
        try (PolaFormer m = new PolaFormer(backend, Variant.of((String) cfg.get("variant")), intOf(cfg, "num_classes"))) {
            var report = Weights.load(m, TensorSource.of(f), "", true);
            assertEquals(m.stateDict().size(), report.loaded(), "every entry loads");
        }
    }

    private static void modelEval(SafetensorsFile f, Backend backend) throws IOException {
        // Through the inference plan (constant packed weights, BatchNorm folded, planned memory): the path that
        // Predictor runs. The second pass replays the planned memory of the first.
        int[] in = f.entry("input").shape();
        try (PolaFormer m = model(f, backend, 0); InferencePlan plan = InferencePlan.of(m)) {
            Map<String, float[]> acts = new LinkedHashMap<>();
            try (Pass pass = plan.pass(in[0], in[2], in[3])) {
                Tensor logits = m.forward(image(f, "input", pass, in[0], in[1], in[2], in[3]), pass,
                        (name, t) -> acts.put(name, t.rank() == 4 ? nchw(t) : t.toArray()));
                assertClose("logits", f.floats("logits"), logits.toArray(), FORWARD_ABS, FORWARD_REL);
            }
            try (Pass pass = plan.pass(in[0], in[2], in[3])) {
                Tensor logits = m.forward(image(f, "input", pass, in[0], in[1], in[2], in[3]), pass);
                assertClose("logits, replayed plan", f.floats("logits"), logits.toArray(), FORWARD_ABS, FORWARD_REL);
            }
            // InferencePlan.logits records the kernels of its first call of a shape and replays them after
            float[] nhwc = Golden.toNhwc(f.floats("input"), in[0], in[1], in[2], in[3]), planned = new float[f.floats("logits").length];
            for (String call : new String[] {"recorded", "replayed"}) {
                plan.logits(nhwc, in[0], in[2], in[3], planned);
                assertClose("logits, " + call + " kernels", f.floats("logits"), planned, FORWARD_ABS, FORWARD_REL);
            }
            int compared = 0;
            for (String name : f.entries().keySet()) {
                if (!name.startsWith("act.")) continue;
                float[] got = acts.get(name.substring(4));
                if (got == null) fail("the model produced no activation named " + name.substring(4));
                assertClose(name, f.floats(name), got, FORWARD_ABS, FORWARD_REL);
                compared++;
            }
            assertTrue(compared > 0, "the file holds activations");
        }
    }

    private static void modelTrainStep(SafetensorsFile f, Backend backend) throws IOException {
        Map<String, Object> cfg = Golden.config(f);
        double smoothing = ((Number) cfg.get("label_smoothing")).doubleValue();
        double dropPath = ((Number) cfg.getOrDefault("drop_path", 0.0)).doubleValue();
        Set<String> zeroGrad = new HashSet<>();
        String zeros = f.metadata().get("zero_gradient_params");
        if (zeros != null) for (Object o : dev.polaformer.io.Json.parse(zeros) instanceof List<?> l ? l : List.of()) zeroGrad.add((String) o);
        try (PolaFormer m = model(f, backend, dropPath); Pass pass = Pass.withGradients(backend, true, 0)) {
            int[] in = f.entry("input").shape();
            Tensor logits = m.forward(image(f, "input", pass, in[0], in[1], in[2], in[3]), pass);
            assertClose("logits", f.floats("logits"), logits.toArray(), FORWARD_ABS, FORWARD_REL);

            long[] labels = f.longs("labels");
            int[] lab = new int[labels.length];
            for (int i = 0; i < lab.length; i++) lab[i] = (int) labels[i];
            Tensor targets = pass.zeros(logits.shape());
            targets.storage().write(0, Targets.smoothed(lab, m.numClasses, smoothing), 0, targets.size());
            Tensor dLogits = pass.empty(logits.shape());
            double loss = backend.crossEntropy(logits, targets, dLogits);
            assertEquals(f.floats("loss")[0], loss, LOSS_ABS, "loss");
            m.backward(dLogits, pass);

            Map<String, Parameter> params = m.namedParameters();
            double total = 0;
            for (var e : params.entrySet()) {
                double sq = backend.sumOfSquares(e.getValue().grad());
                total += sq;
                String key = "gradnorm." + e.getKey();
                if (!f.contains(key)) fail("golden file lacks " + key);
                double ref = f.floats(key)[0], got = Math.sqrt(sq);
                double allowed = zeroGrad.contains(e.getKey()) ? 1e-5 : GRAD_ABS * Math.abs(ref) + GRAD_REL * Math.abs(ref);
                if (!(Math.abs(got - ref) <= allowed)) fail(key + " = " + got + ", expected " + ref + " (allowed ±" + allowed + ")");
            }
            double totalRef = f.floats("grad_total_norm")[0];
            assertEquals(totalRef, Math.sqrt(total), (GRAD_ABS + GRAD_REL) * totalRef, "grad_total_norm");
            for (String name : f.entries().keySet()) {
                if (name.startsWith("grad.")) {
                    String p = name.substring(5);
                    assertClose(name, f.floats(name), params.get(p).grad().toArray(), GRAD_ABS, GRAD_REL);
                } else if (name.startsWith("bn_after.")) {
                    String key = name.substring(9);
                    StateEntry e = m.stateDict().get(key);
                    if (e instanceof Parameter p) {
                        assertClose(name, f.floats(name), p.toArray(), FORWARD_ABS, FORWARD_REL);
                    } else {
                        assertEquals(f.longs(name)[0], ((dev.polaformer.model.Counter) e).get(), name);
                    }
                }
            }
        }
    }

    // ================================================================ helpers

    /** An NCHW tensor of the file as a channels-last tensor of the pass. */
    private static Tensor image(SafetensorsFile f, String name, Pass pass, int b, int c, int h, int w) throws IOException {
        Tensor t = pass.empty(b, h, w, c);
        t.storage().write(t.offset(), Golden.toNhwc(f.floats(name), b, c, h, w), 0, t.size());
        return t;
    }

    private static float[] nchw(Tensor nhwc) {
        return Golden.toNchw(nhwc.toArray(), nhwc.dim(0), nhwc.dim(3), nhwc.dim(1), nhwc.dim(2));
    }

    /** The tables built from the stored angle buffer, after checking them against the stored tables. */
    private static RopeTables ropeTables(SafetensorsFile f, Backend backend, String suffix, int h, int w) throws IOException {
        // pola_attn stores the linear tables' buffer as rope.angle, block files as rope.angle_l.
        String angle = f.contains("rope.angle" + suffix) ? "rope.angle" + suffix : "rope.angle";
        float[][] t = RopeTables.compute(f.floats(angle), h, w);
        assertWithin("rope.sin" + suffix, f.floats("rope.sin" + suffix), t[0], 2e-7);
        assertWithin("rope.cos" + suffix, f.floats("rope.cos" + suffix), t[1], 2e-7);
        int n = h * w, d = t[0].length / n;
        return new RopeTables(backend.fromArray(t[0], n, d), backend.fromArray(t[1], n, d));
    }

    private static void assertWithin(String what, float[] ref, float[] got, double abs) {
        for (int i = 0; i < ref.length; i++) {
            if (Math.abs(ref[i] - got[i]) > abs) fail(what + "[" + i + "] = " + got[i] + ", stored " + ref[i]);
        }
    }

    /** Loads the module strictly from the file's {@code params.*} entries. */
    private static void loadParams(Module m, SafetensorsFile f) throws IOException {
        var report = Weights.load(m, TensorSource.of(f), "params.", false);
        List<String> unexpected = report.unexpected();
        assertTrue(report.missing().isEmpty() && report.mismatched().isEmpty() && unexpected.isEmpty(),
                "module and file disagree: " + report.describe());
    }

    private static void compareParameterGradients(Module m, SafetensorsFile f) throws IOException {
        for (var e : m.namedParameters().entrySet()) {
            assertClose("grad " + e.getKey(), f.floats("grad.params." + e.getKey()), e.getValue().grad().toArray(),
                    GRAD_ABS, GRAD_REL);
        }
    }
}
