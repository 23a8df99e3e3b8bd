package dev.polaformer.bench;

import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Runs {@link SgemmBenchmark} for the results file and writes its SGEMM section: our kernel and OpenBLAS in
 * one JMH run (each combination in its own forks, one after the other), then the same kernel with 512- and
 * 256-bit vectors. Settings (system properties): {@code bench.forks} (3), {@code bench.warmup} (5 × 1 s),
 * {@code bench.iterations} (5 × 1 s), {@code bench.shapes}, {@code bench.widthShapes}, {@code bench.threads}
 * (comma-separated lists), {@code bench.results} (the Markdown file; default {@code bench/RESULTS.md}).
 */
public final class SgemmReport {
    private SgemmReport() {}

    static final String BEGIN = "<!-- sgemm:begin — written by bench/run-sgemm.sh; edits inside are overwritten -->";
    static final String END = "<!-- sgemm:end -->";

    private static final String FLAGS = "--add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED";
    private static final String HEAP = "-XX:+UseParallelGC -Xms2g -Xmx2g";

    public static void main(String[] args) throws RunnerException, IOException {
        int forks = Integer.getInteger("bench.forks", 3);
        int warmup = Integer.getInteger("bench.warmup", 5);
        int iterations = Integer.getInteger("bench.iterations", 5);
        String[] shapes = list("bench.shapes",
                "1024x1024x1024:NN,25088x256x64:NT,25088x224x64:NT,1568x512x128:NT,32*196x196x32:NT");
        String[] widthShapes = list("bench.widthShapes", "1024x1024x1024:NN,25088x256x64:NT");
        String[] threads = list("bench.threads", "1,2");
        Path results = Path.of(System.getProperty("bench.results", "bench/RESULTS.md"));

        String blasProblem = OpenBlas.unavailableReason();
        String blasInfo = blasProblem == null ? OpenBlas.get().path() + " (" + OpenBlas.get().describe() + ")" : null;
        if (blasProblem != null) {
            System.err.println("\n*** " + blasProblem + "\n*** Measuring our kernel only; the table will have no baseline.\n");
        }
        String loadBefore = loadAverage();
        ZonedDateTime started = ZonedDateTime.now();

        List<String> impls = blasProblem == null ? List.of("polaformer", "openblas") : List.of("polaformer");
        Collection<RunResult> main = new Runner(options(forks, warmup, iterations)
                .param("shape", shapes).param("threads", threads).param("impl", impls.toArray(String[]::new))
                .build()).run();
        Collection<RunResult> width = widthShapes.length == 0 ? List.of() : new Runner(options(forks, warmup, iterations)
                .param("shape", widthShapes).param("threads", threads).param("impl", "polaformer@512", "polaformer@256")
                .build()).run();
        String loadAfter = loadAverage();

        String section = section(started, loadBefore, loadAfter, forks, warmup, iterations, blasInfo, blasProblem,
                shapes, widthShapes, threads, scores(main), scores(width));
        writeSection(results, section);
        System.out.println("\n" + section);
        System.out.println("Written to " + results.toAbsolutePath());
    }

    private static ChainedOptionsBuilder options(int forks, int warmup, int iterations) {
        return new OptionsBuilder()
                .include(SgemmBenchmark.class.getName() + ".sgemm")
                .forks(forks)
                .warmupIterations(warmup).warmupTime(TimeValue.seconds(1))
                .measurementIterations(iterations).measurementTime(TimeValue.seconds(1))
                .jvmArgsAppend((FLAGS + " " + HEAP).split(" "));
    }

    private static String[] list(String property, String fallback) {
        String v = System.getProperty(property, fallback).trim();
        return v.isEmpty() ? new String[0] : v.split("\\s*,\\s*");
    }

    /** GFLOP/s and its error, by "shape|threads|impl". */
    private static Map<String, double[]> scores(Collection<RunResult> runs) {
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
                                  Map<String, double[]> width) {
        StringBuilder md = new StringBuilder();
        md.append(BEGIN).append('\n');
        md.append("## SGEMM: our Vector API kernel against OpenBLAS\n\n");
        md.append("- Date: ").append(when.format(DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm z"))).append('\n');
        md.append("- Machine: ").append(Machine.cpu()).append('\n');
        md.append("- JDK: ").append(Machine.jdk()).append('\n');
        md.append("- OpenBLAS: ").append(blasInfo != null ? blasInfo : "**missing** — " + blasProblem).append('\n');
        md.append("- Load average (1, 5, 15 min) before: ").append(loadBefore).append("; after: ").append(loadAfter)
                .append(" (a shared machine: compare the ratios, measured in the same run, more than the absolute numbers)\n");
        md.append("- Command: `bench/run-sgemm.sh`; JMH ").append(forks).append(" forks × ").append(iterations)
                .append(" × 1 s after ").append(warmup).append(" × 1 s warm-up per combination, JVM flags `")
                .append(FLAGS).append("`; ± is JMH's 99.9% confidence half-width.\n");
        md.append("- Shapes are `[batch ×] M×N×K` with the transposes of A and B: `NT` is the model's forward "
                + "linear layer `x·Wᵀ`; `32 × 196×196×32` are the attention scores of 8 images × 4 heads (OpenBLAS "
                + "called once per matrix).\n\n");

        md.append("| shape | threads | ours GFLOP/s | OpenBLAS GFLOP/s | ours / OpenBLAS |\n");
        md.append("|---|---:|---:|---:|---:|\n");
        for (String shape : shapes) {
            for (String t : threads) {
                double[] ours = main.get(shape + "|" + t + "|polaformer");
                double[] blas = main.get(shape + "|" + t + "|openblas");
                md.append("| ").append(GemmShape.parse(shape).pretty()).append(" | ").append(t).append(" | ")
                        .append(gflops(ours)).append(" | ").append(gflops(blas)).append(" | ")
                        .append(ratio(ours, blas)).append(" |\n");
            }
        }
        md.append('\n').append(targets(shapes, threads, main)).append('\n');

        if (widthShapes.length > 0) {
            md.append("### Vector width (`-Dpolaformer.vectorBits`)\n\n");
            md.append("| shape | threads | 512-bit GFLOP/s | 256-bit GFLOP/s | 512 / 256 |\n");
            md.append("|---|---:|---:|---:|---:|\n");
            for (String shape : widthShapes) {
                for (String t : threads) {
                    double[] w512 = width.get(shape + "|" + t + "|polaformer@512");
                    double[] w256 = width.get(shape + "|" + t + "|polaformer@256");
                    md.append("| ").append(GemmShape.parse(shape).pretty()).append(" | ").append(t).append(" | ")
                            .append(gflops(w512)).append(" | ").append(gflops(w256)).append(" | ")
                            .append(ratio(w512, w256)).append(" |\n");
                }
            }
            md.append('\n');
        }
        md.append(END).append('\n');
        return md.toString();
    }

    /** The brief's targets: ≥ 85% of OpenBLAS at 2 threads on 1024³, ≥ 100% on the model's skinny shapes. */
    private static String targets(String[] shapes, String[] threads, Map<String, double[]> main) {
        List<String> lines = new ArrayList<>();
        for (String shape : shapes) {
            GemmShape g = GemmShape.parse(shape);
            boolean square = g.m() == g.n() && g.n() == g.k() && g.batch() == 1;
            boolean skinny = g.batch() == 1 && !square;
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

    private static String loadAverage() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
            return f[0] + ", " + f[1] + ", " + f[2];
        } catch (IOException | RuntimeException e) {
            return "unknown";
        }
    }

    /** Replaces the text between the markers, or appends the section when the file has none. */
    static void writeSection(Path file, String section) throws IOException {
        String old = Files.exists(file) ? Files.readString(file) : "# Benchmark results\n\n";
        int b = old.indexOf(BEGIN), e = old.indexOf(END);
        String updated;
        if (b >= 0 && e > b) {
            updated = old.substring(0, b) + section + old.substring(e + END.length()).replaceFirst("^\n", "");
        } else {
            updated = old + (old.endsWith("\n\n") ? "" : old.endsWith("\n") ? "\n" : "\n\n") + section;
        }
        Files.createDirectories(file.toAbsolutePath().getParent());
        Files.writeString(file, updated);
    }
}
