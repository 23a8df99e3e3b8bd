package dev.polaformer.bench;

import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

import java.io.IOException;
import java.nio.file.Path;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Runs {@link SgemmBenchmark} for the results file and writes its SGEMM section: for each shape and thread
 * count, our kernel and then OpenBLAS (each in its own forks, back to back); then our kernel with 512- and
 * 256-bit vectors, the same way. Settings (system properties): {@code bench.forks} (3), {@code bench.warmup} (5 × 1 s),
 * {@code bench.iterations} (5 × 1 s), {@code bench.shapes}, {@code bench.widthShapes}, {@code bench.threads}
 * (comma-separated lists), {@code bench.results} (the Markdown file; default {@code bench/RESULTS.md}).
 */
public final class SgemmReport {
    private SgemmReport() {}

    static final String BEGIN = "<!-- sgemm:begin — written by bench/run-sgemm.sh; edits inside are overwritten -->";
    static final String END = "<!-- sgemm:end -->";

    private static final String FLAGS = "--add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED";
    /** The rest of each fork's command line; the last flag silences JMH's own use of {@code sun.misc.Unsafe}. */
    private static final String HEAP = "-XX:+UseParallelGC -Xms2g -Xmx2g --sun-misc-unsafe-memory-access=allow";

    public static void main(String[] args) throws RunnerException, IOException {
        int forks = Integer.getInteger("bench.forks", 3);
        int warmup = Integer.getInteger("bench.warmup", 5);
        int iterations = Integer.getInteger("bench.iterations", 5);
        String[] shapes = list("bench.shapes",
                "1024x1024x1024:NN,25088x256x64:NT,25088x224x64:NT,1568x512x128:NT,32*196x196x32:NT,256x64x25088:TN");
        String[] widthShapes = list("bench.widthShapes", "1024x1024x1024:NN,25088x256x64:NT");
        String[] threads = list("bench.threads", "1,2");
        Path results = Path.of(System.getProperty("bench.results", "bench/RESULTS.md"));

        String blasProblem = OpenBlas.unavailableReason();
        String blasInfo = blasProblem == null ? OpenBlas.get().path() + " (" + OpenBlas.get().describe() + ")" : null;
        if (blasProblem != null) {
            System.err.println("\n*** " + blasProblem + "\n*** Measuring our kernel only; the table will have no baseline.\n");
        }
        String loadBefore = Results.loadAverage();
        ZonedDateTime started = ZonedDateTime.now();

        // One JMH run per shape and thread count, our kernel then OpenBLAS: each pair is measured back to back,
        // so a change in the machine's load between pairs does not skew their ratio.
        String[] impls = blasProblem == null ? new String[] {"polaformer", "openblas"} : new String[] {"polaformer"};
        List<RunResult> main = new ArrayList<>();
        Map<String, String> loads = new LinkedHashMap<>();
        for (String shape : shapes) {
            for (String t : threads) {
                loads.put(shape + "|" + t, Machine.busyCores());
                main.addAll(new Runner(options(forks, warmup, iterations)
                        .param("shape", shape).param("threads", t).param("impl", impls).build()).run());
            }
        }
        List<RunResult> width = new ArrayList<>();
        Map<String, String> widthLoads = new LinkedHashMap<>();
        for (String shape : widthShapes) {
            for (String t : threads) {
                widthLoads.put(shape + "|" + t, Machine.busyCores());
                width.addAll(new Runner(options(forks, warmup, iterations)
                        .param("shape", shape).param("threads", t).param("impl", "polaformer@512", "polaformer@256")
                        .build()).run());
            }
        }
        String loadAfter = Results.loadAverage();

        String section = section(started, loadBefore, loadAfter, forks, warmup, iterations, blasInfo, blasProblem,
                shapes, widthShapes, threads, scores(main), scores(width), loads, widthLoads);
        Results.writeSection(results, BEGIN, END, section);
        System.out.println("\n" + section);
        System.out.println("Written to " + results.toAbsolutePath());
    }

    private static ChainedOptionsBuilder options(int forks, int warmup, int iterations) {
        return new OptionsBuilder()
                .include(SgemmBenchmark.class.getName() + ".sgemm")
                .forks(forks)
                .warmupIterations(warmup).warmupTime(TimeValue.seconds(1))
                .measurementIterations(iterations).measurementTime(TimeValue.seconds(1))
                .jvmArgs(FLAGS.split(" "))        // instead of this JVM's own flags
                .jvmArgsAppend(HEAP.split(" ")); // instead of the @Fork annotation's
    }

    private static String[] list(String property, String fallback) {
        String v = System.getProperty(property, fallback).trim();
        return v.isEmpty() ? new String[0] : v.split("\\s*,\\s*");
    }

    /** GFLOP/s and its error, by "shape|threads|impl". */
    private static Map<String, double[]> scores(List<RunResult> runs) {
        Map<String, double[]> out = new LinkedHashMap<>();
        for (RunResult run : runs) {
            var params = run.getParams();
            String shape = params.getParam("shape");
            Result<?> r = run.getPrimaryResult();
            double flops = GemmShape.parse(shape).flops();
            out.put(shape + "|" + params.getParam("threads") + "|" + params.getParam("impl"),
                    new double[] {r.getScore() * flops / 1e9, r.getScoreError() * flops / 1e9});
        }
        return out;
    }

    private static String section(ZonedDateTime when, String loadBefore, String loadAfter, int forks, int warmup,
                                  int iterations, String blasInfo, String blasProblem, String[] shapes,
                                  String[] widthShapes, String[] threads, Map<String, double[]> main,
                                  Map<String, double[]> width, Map<String, String> loads,
                                  Map<String, String> widthLoads) {
        StringBuilder md = new StringBuilder();
        md.append(BEGIN).append('\n');
        md.append("## SGEMM: our Vector API kernel against OpenBLAS\n\n");
        md.append("- Date: ").append(when.format(DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm z"))).append('\n');
        md.append("- Machine: ").append(Machine.cpu()).append('\n');
        md.append("- JDK: ").append(Machine.jdk()).append('\n');
        md.append("- OpenBLAS: ").append(blasInfo != null ? blasInfo : "**missing** — " + blasProblem).append('\n');
        md.append("- Load average (1, 5, 15 min) before: ").append(loadBefore).append("; after: ").append(loadAfter)
                .append(". The machine is shared: \"cores busy before\" is the CPU time other processes used in the "
                        + "second before a row's runs (out of " + Runtime.getRuntime().availableProcessors()
                        + " cores); a row that ran beside other work has low 2-thread numbers, and its ratio, measured "
                        + "back to back, holds up better than its absolute numbers.\n");
        md.append("- Command: `bench/run-sgemm.sh`; JMH ").append(forks).append(" forks × ").append(iterations)
                .append(" × 1 s after ").append(warmup).append(" × 1 s warm-up per combination, JVM flags `")
                .append(FLAGS).append("`; ± is JMH's 99.9% confidence half-width.\n");
        md.append("- Shapes are `[batch ×] M×N×K` with the transposes of A and B: `NT` is the model's forward "
                + "linear layer `x·Wᵀ` (8 images: 8·3136 tokens at stage 1, 8·196 at stage 3); `32 × 196×196×32` are "
                + "the attention scores of 8 images × 4 heads (OpenBLAS called once per matrix); `256×64×25088 TN` is "
                + "a weight gradient `dW = dYᵀ·X` over all tokens of stage 1 (our kernel sums its k-blocks in "
                + "double).\n");
        double busiest = 0;
        for (String v : loads.values()) busiest = Math.max(busiest, parseLoad(v));
        for (String v : widthLoads.values()) busiest = Math.max(busiest, parseLoad(v));
        if (busiest >= 0.5) {
            md.append("- **Other work ran during this run** (up to ").append(String.format(Locale.ROOT, "%.1f", busiest))
                    .append(" cores busy before a row): such rows understate the 2-thread numbers, OpenBLAS's more "
                            + "than ours (it splits the work evenly between its threads, ours hands it out "
                            + "dynamically).\n");
        }
        md.append('\n');

        md.append("| shape | threads | ours GFLOP/s | OpenBLAS GFLOP/s | ours / OpenBLAS | cores busy before |\n");
        md.append("|---|---:|---:|---:|---:|---:|\n");
        for (String shape : shapes) {
            for (String t : threads) {
                double[] ours = main.get(shape + "|" + t + "|polaformer");
                double[] blas = main.get(shape + "|" + t + "|openblas");
                md.append("| ").append(GemmShape.parse(shape).pretty()).append(" | ").append(t).append(" | ")
                        .append(gflops(ours)).append(" | ").append(gflops(blas)).append(" | ")
                        .append(ratio(ours, blas)).append(" | ").append(loads.get(shape + "|" + t)).append(" |\n");
            }
        }
        md.append('\n').append(targets(shapes, threads, main)).append('\n');

        if (widthShapes.length > 0) {
            md.append("### Vector width (`-Dpolaformer.vectorBits`)\n\n");
            md.append("| shape | threads | 512-bit GFLOP/s | 256-bit GFLOP/s | 512 / 256 | cores busy before |\n");
            md.append("|---|---:|---:|---:|---:|---:|\n");
            for (String shape : widthShapes) {
                for (String t : threads) {
                    double[] w512 = width.get(shape + "|" + t + "|polaformer@512");
                    double[] w256 = width.get(shape + "|" + t + "|polaformer@256");
                    md.append("| ").append(GemmShape.parse(shape).pretty()).append(" | ").append(t).append(" | ")
                            .append(gflops(w512)).append(" | ").append(gflops(w256)).append(" | ")
                            .append(ratio(w512, w256)).append(" | ").append(widthLoads.get(shape + "|" + t))
                            .append(" |\n");
                }
            }
            md.append('\n');
        }
        md.append(END).append('\n');
        return md.toString();
    }

    /** The targets: ≥ 85% of OpenBLAS at 2 threads on 1024³, ≥ 100% on the model's three skinny forward shapes. */
    private static String targets(String[] shapes, String[] threads, Map<String, double[]> main) {
        List<String> lines = new ArrayList<>();
        for (String shape : shapes) {
            GemmShape g = GemmShape.parse(shape);
            boolean square = g.m() == 1024 && g.n() == 1024 && g.k() == 1024 && g.batch() == 1;
            boolean skinny = g.batch() == 1 && (g.m() == 25088 && g.k() == 64 && (g.n() == 256 || g.n() == 224)
                    || g.m() == 1568 && g.k() == 128 && g.n() == 512);
            for (String t : threads) {
                double[] ours = main.get(shape + "|" + t + "|polaformer");
                double[] blas = main.get(shape + "|" + t + "|openblas");
                if (ours == null || blas == null) continue;
                double need = square && t.equals("2") ? 0.85 : skinny ? 1.0 : Double.NaN;
                if (Double.isNaN(need)) continue;
                double got = ours[0] / blas[0];
                lines.add(String.format(Locale.ROOT, "%s, %s thread(s): %.0f%% of OpenBLAS (target ≥ %.0f%%) — %s",
                        g.pretty(), t, 100 * got, 100 * need, got >= need ? "met" : "**missed**"));
            }
        }
        if (lines.isEmpty()) return "Targets: not assessed (no OpenBLAS baseline in this run).\n";
        return "Targets:\n\n- " + String.join("\n- ", lines) + "\n";
    }

    private static String gflops(double[] v) {
        return v == null ? "—" : String.format(Locale.ROOT, "%.1f ± %.1f", v[0], v[1]);
    }

    private static String ratio(double[] x, double[] y) {
        return x == null || y == null ? "—" : String.format(Locale.ROOT, "%.2f", x[0] / y[0]);
    }

    private static double parseLoad(String load) {
        try {
            return Double.parseDouble(load.split(",")[0].trim());
        } catch (RuntimeException e) {
            return Double.NaN;
        }
    }
}
