package dev.polaformer.train;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The JIT compiles our kernels into what they were written for. Runs {@link JitWorkload} (b0 inference,
 * forward and backward, training steps) in a child JVM and checks two ways the Vector API silently falls
 * back to allocating every vector, 10–50× slower:
 * <ul>
 *   <li>a <b>skipped compilation</b>: C1 gives up on a method with too many (masked) vector calls ("out of
 *       virtual registers"), and the method can then stay in code where the Vector API is not intrinsified for
 *       the whole run (it happened to the depthwise convolution and the LayerNorm backward). Read from
 *       {@code -XX:+PrintCompilation}; "concurrent class loading" skips are benign retries.</li>
 *   <li>a <b>vector passed through a call that C2 did not inline</b>: our helpers that take or return vectors
 *       ({@code VectorMath.exp}, ...) are inlined only while the compiled method is under C2's node budget;
 *       past it the call boxes its vectors (it happened to the linear attention's exponentials). Read from
 *       {@code -XX:+LogCompilation}.</li>
 * </ul>
 */
class JitCompilationTest {
    @TempDir
    Path dir;

    @Test
    void kernelsAreCompiledAndTheirVectorCallsInlined() throws Exception {
        Path log = dir.resolve("compilation.xml");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        // Thresholds scaled down, so that the short workload takes its kernels through C1 and on to C2; and no
        // skipping of C1's profiling tier (3) while C2 is busy, as the JIT otherwise may: the C1 failures happen there.
        List<String> command = List.of(java, "--add-modules=jdk.incubator.vector", "-XX:+UseParallelGC",
                "-XX:+PrintCompilation", "-XX:CompileThresholdScaling=0.1", "-XX:Tier3DelayOn=100000",
                "-XX:+UnlockDiagnosticVMOptions", "-XX:+LogCompilation", "-XX:LogFile=" + log,
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

        TreeSet<String> boxed = vectorCallsNotInlined(log);
        assertTrue(boxed.isEmpty(), () -> "C2 left these calls that pass vectors un-inlined (they box every vector):\n"
                + String.join("\n", boxed));
    }

    private static final Pattern ATTRIBUTE = Pattern.compile("(\\w+)='([^']*)'");

    /**
     * From a {@code -XX:+LogCompilation} file: in C2 compilations of our methods, the calls to our methods whose
     * parameters or result are Vector API types that were not inlined, as "compiled method: callee (reason)".
     * The log holds one {@code <task>} element per compilation (C2's carry no {@code level}); inside it,
     * {@code <klass>}/{@code <type>} and {@code <method>} declare ids, and each {@code <call method=id>} is
     * followed by an {@code <inline_fail>} or an {@code <inline_success>}.
     */
    static TreeSet<String> vectorCallsNotInlined(Path log) throws IOException {
        TreeSet<String> found = new TreeSet<>();
        List<String> task = null;
        try (BufferedReader r = Files.newBufferedReader(log, StandardCharsets.UTF_8)) {
            for (String line; (line = r.readLine()) != null; ) {
                if (line.startsWith("<task ")) {
                    Map<String, String> a = attributes(line);
                    boolean c2 = !a.containsKey("level");
                    task = c2 && a.getOrDefault("method", "").startsWith("dev.polaformer.") ? new ArrayList<>() : null;
                    if (task != null) task.add(line);
                } else if (line.startsWith("</task>")) {
                    if (task != null) inspect(task, found);
                    task = null;
                } else if (task != null) {
                    task.add(line);
                }
            }
        }
        return found;
    }

    private static void inspect(List<String> task, TreeSet<String> found) {
        String compiled = attributes(task.get(0)).get("method").split(" ")[0] + "." + attributes(task.get(0)).get("method").split(" ")[1];
        Map<String, String> types = new HashMap<>();
        Map<String, String[]> methods = new HashMap<>();  // id → {holder id, name, return id, argument ids}
        for (String line : task) {
            if (line.startsWith("<klass ") || line.startsWith("<type ")) {
                Map<String, String> a = attributes(line);
                types.put(a.get("id"), a.get("name"));
            } else if (line.startsWith("<method ")) {
                Map<String, String> a = attributes(line);
                methods.put(a.get("id"), new String[] {a.get("holder"), a.get("name"), a.getOrDefault("return", ""),
                        a.getOrDefault("arguments", "")});
            }
        }
        String[] call = null;
        for (String line : task) {
            if (line.startsWith("<call ")) {
                call = methods.get(attributes(line).get("method"));
            } else if (line.startsWith("<inline_fail ") && call != null) {
                String holder = types.getOrDefault(call[0], "");
                boolean vectors = false;
                for (String id : (call[2] + " " + call[3]).trim().split(" +")) {
                    vectors |= types.getOrDefault(id, "").startsWith("jdk.incubator.vector.");
                }
                if (holder.startsWith("dev.polaformer.") && vectors) {
                    found.add(compiled + ": " + holder + "::" + call[1] + " (" + attributes(line).get("reason") + ")");
                }
                call = null;
            } else if (line.startsWith("<inline_success")) {
                call = null;
            }
        }
    }

    private static Map<String, String> attributes(String element) {
        Map<String, String> a = new HashMap<>();
        Matcher m = ATTRIBUTE.matcher(element);
        while (m.find()) a.put(m.group(1), m.group(2).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"));
        return a;
    }

    private static String tail(String out) {
        return out.length() <= 4000 ? out : out.substring(out.length() - 4000);
    }
}
