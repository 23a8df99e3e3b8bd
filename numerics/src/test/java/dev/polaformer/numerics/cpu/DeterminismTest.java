package dev.polaformer.numerics.cpu;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The CPU backend gives the same bits whether its code runs interpreted, compiled by C1 or by C2: a training
 * run resumed in a fresh JVM must continue exactly as the warm one would have.
 */
class DeterminismTest {
    @Test
    void resultsDoNotDependOnTheJitCompiler() throws Exception {
        CpuBackend backend = new CpuBackend(2);
        for (int i = 0; i < 300; i++) DeterminismProbe.probe(backend);  // warm: C2 has compiled the kernels
        Map<String, String> warm = new TreeMap<>();
        DeterminismProbe.probe(backend).forEach((k, v) -> warm.put(k, String.valueOf(v)));

        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String cp = System.getProperty("java.class.path");
        Process p = new ProcessBuilder(java, "--add-modules=jdk.incubator.vector", "-XX:TieredStopAtLevel=1", "-cp", cp,
                DeterminismProbe.class.getName()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
        Map<String, String> cold = new TreeMap<>();
        for (String line : out.split("\n")) {
            int eq = line.indexOf('=');
            if (eq > 0 && !line.startsWith("WARNING")) cold.put(line.substring(0, eq), line.substring(eq + 1).trim());
        }
        assertEquals(warm, cold, "C1-only JVM (left: C2-warm)");
    }

}
