package dev.polaformer.bench;

import dev.polaformer.io.Json;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * PolaFormer++ against ONNX Runtime over several fresh JVMs ({@code bench.jvms}, default 3): each JVM checks
 * that the logits agree and times both engines interleaved ({@link OrtComparison}); two more JVMs run each engine
 * alone to measure its peak resident memory. Writes the median over JVMs of each JVM's median, and the ratio, into
 * the "onnxruntime" section of the results file for b0 (the golden weights and their official export, the
 * default), or "onnxruntime-&lt;variant&gt;" for another variant given as {@code bench.variant} with its
 * {@code bench.weights}, {@code bench.onnx} and {@code bench.golden} (the agreement input and its reference logits).
 */
public final class OrtReport {
    private OrtReport() {}

    public static void main(String[] args) throws Exception {
        int jvms = Integer.getInteger("bench.jvms", 3);
        Path results = Path.of(System.getProperty("bench.results", "bench/RESULTS.md"));
        String shared = System.getProperty("bench.shared", "../shared");
        String variant = System.getProperty("bench.variant", "b0");
        boolean golden0 = variant.equals("b0") && System.getProperty("bench.weights") == null;
        String weights = System.getProperty("bench.weights", shared + "/golden/b0_weights.safetensors");
        String onnx = System.getProperty("bench.onnx", shared + "/anchors/pola_b0_golden7.onnx");
        String goldenInput = System.getProperty("bench.golden", shared + "/golden/b0_eval.safetensors");
        String warmup = System.getProperty("bench.warmup", "200"), rounds = System.getProperty("bench.rounds", "30");
        String warmupLarge = System.getProperty("bench.warmupLarge", "30"), roundsLarge = System.getProperty("bench.roundsLarge", rounds);
        List<String> common = List.of("--weights", weights, "--onnx", onnx, "--golden", goldenInput,
                "--rounds", rounds, "--warmup", warmup, "--rounds-large", roundsLarge, "--warmup-large", warmupLarge);
        // b0 on the golden weights keeps its historical section name; every other model gets its own section
        String section = golden0 ? "onnxruntime" : "onnxruntime-" + variant;
        String begin = "<!-- " + section + ":begin — written by bench/run-ort.sh; edits inside are overwritten -->";
        String end = "<!-- " + section + ":end -->";
        String loadBefore = Results.loadAverage();
        ZonedDateTime started = ZonedDateTime.now();
        Map<String, List<Double>> ours = new LinkedHashMap<>(), ort = new LinkedHashMap<>(), paired = new LinkedHashMap<>();
        double agreement = 0, golden = 0;
        for (int j = 0; j < jvms; j++) {
            for (Map<String, Object> r : child(common, List.of())) {
                if (r.containsKey("agreement_max_abs")) {
                    agreement = Math.max(agreement, ((Number) r.get("agreement_max_abs")).doubleValue());
                    golden = Math.max(golden, ((Number) r.get("golden_max_abs")).doubleValue());
                    continue;
                }
                String key = r.get("batch") + "|" + r.get("threads");
                ours.computeIfAbsent(key, k -> new ArrayList<>()).add(((Number) r.get("ours_ms")).doubleValue());
                ort.computeIfAbsent(key, k -> new ArrayList<>()).add(((Number) r.get("ort_ms")).doubleValue());
                paired.computeIfAbsent(key, k -> new ArrayList<>()).add(((Number) r.get("paired_ratio")).doubleValue());
            }
        }
        Map<String, Double> memOurs = new LinkedHashMap<>(), memOrt = new LinkedHashMap<>();
        for (String only : new String[] {"ours", "ort"}) {
            for (Map<String, Object> r : child(common, List.of("--only", only, "--threads", "2"))) {
                (only.equals("ours") ? memOurs : memOrt).merge("peak", ((Number) r.get("peak_rss_mb")).doubleValue(), Math::max);
            }
        }
        StringBuilder md = new StringBuilder(begin).append('\n');
        md.append("## ").append(variant).append(" inference against ONNX Runtime (CPU, same weights, same run)\n\n");
        md.append("- Date: ").append(started.format(DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm z"))).append('\n');
        md.append("- Machine: ").append(Machine.cpu()).append("; JDK: ").append(Machine.jdk()).append('\n');
        md.append("- ONNX Runtime 1.29.0 (Java API, CPU provider, graph optimisation ALL, inter-op 1 thread) on "
                + "`" + onnx + "`; this library on `" + weights + "` (the same weights), `cpu` backend.\n");
        md.append("- Load average before: ").append(loadBefore).append("; after: ").append(Results.loadAverage()).append('\n');
        md.append(String.format(Locale.ROOT, "- Agreement on the input of `%s`: max |logit difference| %.2g (limit 1e-4); "
                + "ours against its float64 logits: %.2g.%n", goldenInput, agreement, golden));
        String calls = warmupLarge.equals(warmup) && roundsLarge.equals(rounds) ? warmup + " warm-up calls, then medians of " + rounds + " calls"
                : warmup + " warm-up calls, then medians of " + rounds + " calls at batch 1 (" + warmupLarge + " and "
                + roundsLarge + " at larger batches, to keep the run short)";
        md.append("- Command: `bench/run-ort.sh").append(golden0 ? "" : " -Dbench.variant=" + variant + " -Dbench.weights=" + weights
                + " -Dbench.onnx=" + onnx + " -Dbench.golden=" + goldenInput).append(warmupLarge.equals(warmup) && roundsLarge.equals(rounds)
                ? "" : " -Dbench.warmupLarge=" + warmupLarge + " -Dbench.roundsLarge=" + roundsLarge)
                .append(jvms == 3 ? "" : " -Dbench.jvms=" + jvms).append("`; ").append(jvms).append(" fresh JVMs, each timing both engines "
                + "alternately (" + calls + ", with the cores left idle for "
                + Long.getLong("bench.quietMillis", 30) + " ms before each call so that neither engine's spinning "
                + "threads take a core from the other's call); the table gives the median of the JVMs' medians "
                + "and their range. Ours runs through `Predictor` (its inference plan). Every JVM runs with -Xmx" + HEAP
                + " -XX:+UseParallelGC.\n\n");
        md.append("The last column pairs the calls: in each JVM the median over rounds of ours/ORT, each round's two "
                + "calls back to back, then the median over the JVMs; it cancels what drifts during a run.\n\n");
        md.append("| batch | threads | this library, ms | ONNX Runtime, ms | ratio of the medians | paired ratio |\n"
                + "|---:|---:|---:|---:|---:|---:|\n");
        for (String key : ours.keySet()) {
            String[] k = key.split("\\|");
            double o = median(ours.get(key)), r = median(ort.get(key));
            // three decimals: the targets are ratios such as 0.67, which two would round onto
            md.append(String.format(Locale.ROOT, "| %s | %s | %.2f (%s) | %.2f (%s) | %.3f | %.3f (%s) |%n", k[0], k[1],
                    o, range(ours.get(key)), r, range(ort.get(key)), o / r, median(paired.get(key)),
                    range(paired.get(key), "%.2f")));
        }
        md.append(String.format(Locale.ROOT, "%nPeak resident memory of a JVM running one engine alone (2 threads, "
                + "batch 1 and 8): this library %.0f MB, ONNX Runtime %.0f MB.%n", memOurs.getOrDefault("peak", Double.NaN),
                memOrt.getOrDefault("peak", Double.NaN)));
        md.append('\n').append(end).append('\n');
        Results.writeSection(results, begin, end, md.toString());
        System.out.println(md);
    }

    /**
     * The maximum heap of every child JVM, both engines alike. Left to the JVM's default (a quarter of the RAM),
     * ParallelGC grows the heap through the warm-up's garbage and the resident size of a JVM running our engine
     * reached 1.8 GB although a forward at batch 8 needs a few hundred MB.
     */
    private static final String HEAP = System.getProperty("bench.heap", "1g");

    private static List<Map<String, Object>> child(List<String> common, List<String> extra) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-XX:+UseParallelGC",
                "-Xmx" + HEAP, "-Dbench.quietMillis=" + Long.getLong("bench.quietMillis", 30), "-cp", System.getProperty("java.class.path"), OrtComparison.class.getName()));
        cmd.addAll(common);
        cmd.addAll(extra);
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (p.waitFor() != 0) throw new IllegalStateException("comparison JVM failed:\n" + out);
        List<Map<String, Object>> recs = new ArrayList<>();
        for (String line : out.split("\n")) if (line.startsWith("RESULT ")) recs.add(Json.parseObject(line.substring(7)));
        return recs;
    }

    private static double median(List<Double> v) {
        return Results.median(v.stream().mapToDouble(Double::doubleValue).toArray());
    }

    private static String range(List<Double> v) {
        return range(v, "%.1f");
    }

    private static String range(List<Double> v, String format) {
        return String.format(Locale.ROOT, format + "–" + format, v.stream().mapToDouble(d -> d).min().orElse(Double.NaN),
                v.stream().mapToDouble(d -> d).max().orElse(Double.NaN));
    }

}
