package dev.polaformer.bench;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.polaformer.infer.Predictor;
import dev.polaformer.io.SafetensorsFile;
import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.cpu.CpuBackend;

import java.io.IOException;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One fresh JVM's side-by-side run of PolaFormer++ (b0 by default; the variant is detected from the weights) in this
 * library and in ONNX Runtime (the official export, the same weights): first the logits of the agreement input
 * ({@code --golden}: {@code input} NCHW and reference {@code logits}) must agree (max |Δ| ≤ 1e-4), then both are timed,
 * interleaved call by call, at each batch size and thread count. Prints one JSON line per configuration for
 * {@code OrtReport}, which runs several JVMs and writes the results. With {@code --only ours|ort} it runs one
 * engine alone and reports the process's peak resident memory.
 */
public final class OrtComparison {
    private OrtComparison() {}

    public static void main(String[] args) throws Exception {
        Map<String, String> a = parse(args);
        Path weights = Path.of(a.getOrDefault("weights", "../shared/golden/b0_weights.safetensors"));
        Path onnx = Path.of(a.getOrDefault("onnx", "../shared/anchors/pola_b0_golden7.onnx"));
        Path golden = Path.of(a.getOrDefault("golden", "../shared/golden/b0_eval.safetensors"));
        int[] batches = ints(a.getOrDefault("batches", "1,8"));
        int[] threads = ints(a.getOrDefault("threads", "1,2"));
        int warmup = Integer.parseInt(a.getOrDefault("warmup", "15"));
        int rounds = Integer.parseInt(a.getOrDefault("rounds", "30"));
        // batches above 1 may be given fewer calls, to keep a run of the larger variants within minutes
        int warmupLarge = Integer.parseInt(a.getOrDefault("warmup-large", String.valueOf(warmup)));
        int roundsLarge = Integer.parseInt(a.getOrDefault("rounds-large", String.valueOf(rounds)));
        String only = a.get("only");

        OrtEnvironment env = OrtEnvironment.getEnvironment();
        for (int t : threads) {
            Backend backend = new CpuBackend(t);
            try (Predictor ours = "ort".equals(only) ? null : Predictor.load(backend, weights, null, true, 224);
                 OrtSession ort = "ours".equals(only) ? null : session(env, onnx, t)) {
                if (only == null) agreement(ours, ort, env, golden, t);
                for (int b : batches) {
                    float[] nchw = TrainingWorkload.noise(42 + b, b * 3 * 224 * 224);
                    float[] nhwc = toNhwc(nchw, b);
                    Runnable runOurs = ours == null ? null : () -> ours.logits(nhwc, b, 224, 224);
                    Runnable runOrt = ort == null ? null : () -> runOrt(ort, env, nchw, b);
                    int nWarmup = b > 1 ? warmupLarge : warmup, nRounds = b > 1 ? roundsLarge : rounds;
                    for (int i = 0; i < nWarmup; i++) {
                        if (runOurs != null) runOurs.run();
                        if (runOrt != null) runOrt.run();
                    }
                    long[] tOurs = new long[nRounds], tOrt = new long[nRounds];
                    for (int i = 0; i < nRounds; i++) {
                        // each engine alone on the cores: both keep their threads spinning for a while after a
                        // call (ONNX Runtime's intra-op pool by default, ours for 0.2 ms), and a call that starts
                        // while the other engine's threads spin loses a core to them
                        quiet();
                        if (runOurs != null) tOurs[i] = time(runOurs);
                        quiet();
                        if (runOrt != null) tOrt[i] = time(runOrt);
                    }
                    Map<String, Object> rec = new LinkedHashMap<>();
                    rec.put("batch", b);
                    rec.put("threads", t);
                    if (runOurs != null) rec.put("ours_ms", median(tOurs) / 1e6);
                    if (runOrt != null) rec.put("ort_ms", median(tOrt) / 1e6);
                    if (runOurs != null && runOrt != null) rec.put("paired_ratio", pairedRatio(tOurs, tOrt));
                    if (only != null) rec.put("peak_rss_mb", peakRssMb());
                    rec.put("only", only == null ? "both" : only);
                    System.out.println("RESULT " + dev.polaformer.io.Json.write(rec));
                }
            }
        }
    }

    /**
     * The median over rounds of ours/ORT, each round's two calls made back to back: what drifts during the run (this
     * 2-core virtual machine has slower and faster periods) cancels within a round.
     */
    private static double pairedRatio(long[] ours, long[] ort) {
        double[] r = new double[ours.length];
        for (int i = 0; i < r.length; i++) r[i] = (double) ours[i] / ort[i];
        return Results.median(r);
    }

    private static OrtSession session(OrtEnvironment env, Path onnx, int threads) throws OrtException {
        OrtSession.SessionOptions o = new OrtSession.SessionOptions();
        o.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
        o.setIntraOpNumThreads(threads);
        o.setInterOpNumThreads(1);
        return env.createSession(onnx.toString(), o);
    }

    private static float[] runOrt(OrtSession s, OrtEnvironment env, float[] nchw, int batch) {
        try (OnnxTensor in = OnnxTensor.createTensor(env, FloatBuffer.wrap(nchw), new long[] {batch, 3, 224, 224});
             OrtSession.Result r = s.run(Map.of("input", in))) {
            return ((OnnxTensor) r.get(0)).getFloatBuffer().array();
        } catch (OrtException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Both engines on the agreement input: the logits must agree to 1e-4 (max abs). */
    private static void agreement(Predictor ours, OrtSession ort, OrtEnvironment env, Path golden, int threads) throws IOException {
        float[] nchw, ref;
        int b;
        try (SafetensorsFile f = SafetensorsFile.open(golden)) {
            nchw = f.floats("input");
            ref = f.floats("logits");
            b = f.entry("input").shape()[0];
        }
        float[] mine = ours.logits(toNhwc(nchw, b), b, 224, 224);
        float[] theirs = runOrt(ort, env, nchw, b);
        double diff = 0, diffGolden = 0;
        for (int i = 0; i < mine.length; i++) {
            diff = Math.max(diff, Math.abs(mine[i] - theirs[i]));
            diffGolden = Math.max(diffGolden, Math.abs(mine[i] - ref[i]));
        }
        System.out.println("RESULT " + dev.polaformer.io.Json.write(Map.of("agreement_max_abs", diff,
                "golden_max_abs", diffGolden, "threads", threads)));
        if (!(diff <= 1e-4)) throw new IllegalStateException("logits disagree with ONNX Runtime: max |Δ| = " + diff);
    }

    /** How long the cores are left idle between the two engines' calls. */
    private static final long QUIET_MILLIS = Long.getLong("bench.quietMillis", 30);

    private static void quiet() {
        try {
            Thread.sleep(QUIET_MILLIS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static long time(Runnable r) {
        long s = System.nanoTime();
        r.run();
        return System.nanoTime() - s;
    }

    private static double median(long[] v) {
        return Results.median(Arrays.stream(v).asDoubleStream().toArray());
    }

    static double peakRssMb() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024.0;
            }
        } catch (IOException | RuntimeException ignored) {
            // not Linux
        }
        return Double.NaN;
    }

    static float[] toNhwc(float[] nchw, int b) {
        int hw = 224 * 224;
        float[] out = new float[nchw.length];
        for (int n = 0; n < b; n++)
            for (int c = 0; c < 3; c++)
                for (int i = 0; i < hw; i++) out[(n * hw + i) * 3 + c] = nchw[(n * 3 + c) * hw + i];
        return out;
    }

    private static int[] ints(String s) {
        return Arrays.stream(s.split(",")).map(String::trim).mapToInt(Integer::parseInt).toArray();
    }

    private static Map<String, String> parse(String[] args) {
        Map<String, String> m = new LinkedHashMap<>();
        List<String> rest = new ArrayList<>(Arrays.asList(args));
        for (int i = 0; i + 1 < rest.size(); i += 2) m.put(rest.get(i).replaceFirst("^--", ""), rest.get(i + 1));
        return m;
    }
}
