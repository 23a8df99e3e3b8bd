package dev.polaformer.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** What the results were measured on, for the results file. */
final class Machine {
    private Machine() {}

    /** E.g. "AMD EPYC (CPU family 26, model 2), 2 cores, AVX-512". */
    static String cpu() {
        int cores = Runtime.getRuntime().availableProcessors();
        try {
            List<String> info = Files.readAllLines(Path.of("/proc/cpuinfo"));
            String name = field(info, "model name"), family = field(info, "cpu family"), model = field(info, "model");
            String flags = field(info, "flags");
            String simd = flags == null ? "" : flags.contains(" avx512f") ? ", AVX-512" : flags.contains(" avx2") ? ", AVX2" : "";
            return name + " (CPU family " + family + ", model " + model + "), " + cores + " cores" + simd;
        } catch (IOException | RuntimeException e) {
            return System.getProperty("os.arch") + ", " + cores + " cores";
        }
    }

    private static String field(List<String> cpuinfo, String key) {
        for (String line : cpuinfo) {
            int colon = line.indexOf(':');
            if (colon > 0 && line.substring(0, colon).trim().equals(key)) return line.substring(colon + 1).trim();
        }
        return null;
    }

    static String jdk() {
        return System.getProperty("java.vm.vendor") + " " + System.getProperty("java.vm.name") + " " + Runtime.version();
    }
}
