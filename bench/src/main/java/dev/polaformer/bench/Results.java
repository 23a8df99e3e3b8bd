package dev.polaformer.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** The results file, {@code bench/RESULTS.md}: each report owns the text between its two markers. */
final class Results {
    private Results() {}

    /** Replaces the text between the markers, or appends the section when the file has none. */
    static void writeSection(Path file, String begin, String end, String section) throws IOException {
        String old = Files.exists(file) ? Files.readString(file) : "# Benchmark results\n\n";
        int b = old.indexOf(begin), e = old.indexOf(end);
        String updated;
        if (b >= 0 && e > b) {
            updated = old.substring(0, b) + section + old.substring(e + end.length()).replaceFirst("^\n", "");
        } else {
            updated = old + (old.endsWith("\n\n") ? "" : old.endsWith("\n") ? "\n" : "\n\n") + section;
        }
        Files.createDirectories(file.toAbsolutePath().getParent());
        Files.writeString(file, updated);
    }

    /** The median of {@code values} (the mean of the middle two for an even count). */
    static double median(double[] values) {
        double[] s = values.clone();
        java.util.Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    static String loadAverage() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
            return f[0] + ", " + f[1] + ", " + f[2];
        } catch (IOException | RuntimeException e) {
            return "unknown";
        }
    }
}
