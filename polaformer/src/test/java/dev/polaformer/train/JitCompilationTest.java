package dev.polaformer.train;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every method of ours that the model and the trainer run gets compiled by the JIT. C1 gives up on a method
 * with too many (masked) Vector API calls ("out of virtual registers"); the method can then stay in code where
 * the Vector API is not intrinsified, every vector op allocating, 10–50× slower for the whole run (it happened to
 * the depthwise convolution and the LayerNorm backward). Kernels are kept small enough for C1; this test runs
 * {@link JitWorkload} in a child JVM with {@code -XX:+PrintCompilation} and fails on any skipped compilation of a
 * {@code dev.polaformer} method. Skips for "concurrent class loading" are benign: the JIT retries them.
 */
class JitCompilationTest {
    @Test
    void noKernelIsSkippedByTheJit() throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        // Thresholds scaled down, so that the short workload takes its kernels through C1 and on to C2; and no
        // skipping of C1's profiling tier (3) while C2 is busy, as the JIT otherwise may: the failures happen there.
        List<String> command = List.of(java, "--add-modules=jdk.incubator.vector", "-XX:+UseParallelGC",
                "-XX:+PrintCompilation", "-XX:CompileThresholdScaling=0.1", "-XX:Tier3DelayOn=100000",
                "-cp", System.getProperty("java.class.path"), JitWorkload.class.getName());
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        byte[] bytes = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(5, TimeUnit.MINUTES), "the workload did not finish");
        String out = new String(bytes, StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), () -> tail(out));
        assertTrue(out.contains("workload done"), () -> tail(out));
        List<String> skipped = out.lines()
                .filter(l -> l.contains("COMPILE SKIPPED") && l.contains("dev.polaformer."))
                .filter(l -> !l.contains("concurrent class loading"))
                .toList();
        assertTrue(skipped.isEmpty(), () -> "the JIT gave up on:\n" + String.join("\n", skipped));
    }

    private static String tail(String out) {
        return out.length() <= 4000 ? out : out.substring(out.length() - 4000);
    }
}
