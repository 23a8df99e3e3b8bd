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

    /**
     * Cores' worth of CPU time used by all processes over the next second, from {@code /proc/stat}: called
     * between benchmark runs, it measures the other work on the machine. "?" where that file is missing.
     */
    static String busyCores() {
        try {
            long[] before = cpuTimes();
            Thread.sleep(1000);
            long[] after = cpuTimes();
            double total = after[0] - before[0], idle = after[1] - before[1];
            if (total <= 0) return "?";
            return String.format(java.util.Locale.ROOT, "%.1f",
                    (1 - idle / total) * Runtime.getRuntime().availableProcessors());
        } catch (IOException | RuntimeException e) {
            return "?";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "?";
        }
    }

    /** Total and idle (idle + iowait) jiffies of all CPUs. */
    private static long[] cpuTimes() throws IOException {
        String[] f = Files.readAllLines(Path.of("/proc/stat")).get(0).trim().split("\\s+");
        long total = 0;
        for (int i = 1; i < f.length; i++) total += Long.parseLong(f[i]);
        return new long[] {total, Long.parseLong(f[4]) + Long.parseLong(f[5])};
    }
}
