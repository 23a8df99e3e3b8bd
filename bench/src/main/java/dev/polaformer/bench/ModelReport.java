package dev.polaformer.bench;

import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

import java.io.IOException;
import java.nio.file.Path;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Runs {@link ModelBenchmark} and writes the "model" section of the results file: forward latency of b0 and b2 at
 * batch 1 and 8 on 1 and 2 threads, and b0 training throughput at 224² with batch 8 and 32 on 2 threads.
 * Settings: {@code bench.forks} (2), {@code bench.warmup} / {@code bench.iterations} (iterations of
 * {@code bench.seconds}, default 5 × 2 s each), {@code bench.results}.
 */
public final class ModelReport {
    private ModelReport() {}

    static final String BEGIN = "<!-- model:begin — written by bench/run-model.sh; edits inside are overwritten -->";
    static final String END = "<!-- model:end -->";
    private static final String FLAGS = "--add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED";
    private static final String HEAP = "-XX:+UseParallelGC -Xms6g -Xmx6g --sun-misc-unsafe-memory-access=allow";

    public static void main(String[] args) throws RunnerException, IOException {
        int forks = Integer.getInteger("bench.forks", 2);
        int warmup = Integer.getInteger("bench.warmup", 5), iterations = Integer.getInteger("bench.iterations", 5);
        int seconds = Integer.getInteger("bench.seconds", 2);
        Path results = Path.of(System.getProperty("bench.results", "bench/RESULTS.md"));
        String loadBefore = Results.loadAverage();
        ZonedDateTime started = ZonedDateTime.now();

        List<RunResult> forward = new ArrayList<>();
        for (String variant : new String[] {"b0", "b2"}) {
            forward.addAll(new Runner(new OptionsBuilder().include(ModelBenchmark.class.getName() + ".forward")
                    .param("variant", variant).param("batch", "1", "8").param("threads", "1", "2")
                    .forks(forks).warmupIterations(warmup).warmupTime(TimeValue.seconds(seconds))
                    .measurementIterations(iterations).measurementTime(TimeValue.seconds(seconds))
                    .jvmArgs(FLAGS.split(" ")).jvmArgsAppend(HEAP.split(" ")).build()).run());
        }
        List<RunResult> training = new ArrayList<>(new Runner(new OptionsBuilder()
                .include(ModelBenchmark.class.getName() + ".trainStep")
                .param("variant", "b0").param("batch", "8", "32").param("threads", "2")
                .forks(Math.max(1, forks - 1)).warmupIterations(3).warmupTime(TimeValue.seconds(5 * seconds))
                .measurementIterations(iterations).measurementTime(TimeValue.seconds(5 * seconds))
                .jvmArgs(FLAGS.split(" ")).jvmArgsAppend(HEAP.split(" ")).build()).run());
        String loadAfter = Results.loadAverage();

        StringBuilder md = new StringBuilder(BEGIN).append('\n');
        md.append("## Whole model on the `cpu` backend\n\n");
        md.append("- Date: ").append(started.format(DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm z"))).append('\n');
        md.append("- Machine: ").append(Machine.cpu()).append('\n');
        md.append("- JDK: ").append(Machine.jdk()).append('\n');
        md.append("- Load average before: ").append(loadBefore).append("; after: ").append(loadAfter).append('\n');
        md.append("- Command: `bench/run-model.sh`; JMH ").append(forks).append(" forks, ").append(iterations)
                .append(" iterations of ").append(seconds).append(" s after ").append(warmup)
                .append(" warm-up iterations (training: 5× longer iterations); random official initialisation, "
                        + "224×224 inputs; ± is JMH's 99.9% confidence half-width.\n\n");
        md.append("### Forward (inference) latency\n\n| variant | batch | threads | ms per batch | images/s |\n|---|---:|---:|---:|---:|\n");
        for (RunResult r : forward) {
            var p = r.getParams();
            double ms = r.getPrimaryResult().getScore(), err = r.getPrimaryResult().getScoreError();
            int batch = Integer.parseInt(p.getParam("batch"));
            md.append(String.format(Locale.ROOT, "| %s | %d | %s | %.1f ± %.1f | %.1f |%n", p.getParam("variant"), batch,
                    p.getParam("threads"), ms, err, 1000.0 * batch / ms));
        }
        md.append("\n### Training throughput (one iteration of the official recipe: Mixup/CutMix, forward, loss, "
                + "backward, clipping, AdamW, EMA)\n\n| variant | batch | threads | ms per iteration | images/s |\n"
                + "|---|---:|---:|---:|---:|\n");
        for (RunResult r : training) {
            var p = r.getParams();
            double ms = r.getPrimaryResult().getScore(), err = r.getPrimaryResult().getScoreError();
            int batch = Integer.parseInt(p.getParam("batch"));
            md.append(String.format(Locale.ROOT, "| %s | %d | %s | %.0f ± %.0f | %.1f |%n", p.getParam("variant"), batch,
                    p.getParam("threads"), ms, err, 1000.0 * batch / ms));
        }
        md.append('\n').append(END).append('\n');
        Results.writeSection(results, BEGIN, END, md.toString());
        System.out.println("\n" + md);
        System.out.println("Written to " + results.toAbsolutePath());
    }
}
