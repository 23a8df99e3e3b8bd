package dev.polaformer.train;

import java.io.PrintStream;
import java.util.Locale;

/**
 * A one-line progress bar for long work: done/total, a bar, images per second, loss, learning rate and ETA.
 * On a terminal it redraws in place; in a log (no console) it prints a line every {@code logSeconds} instead.
 */
public final class Progress {
    private final PrintStream out;
    private final boolean interactive;
    private final double logSeconds;
    private String label = "";
    private long total;
    private long startNanos, lastPrint;
    private long images;

    public Progress(PrintStream out, boolean interactive, double logSeconds) {
        this.out = out;
        this.interactive = interactive;
        this.logSeconds = logSeconds;
    }

    public static Progress forStderr() {
        return new Progress(System.err, System.console() != null, 15);
    }

    public void start(String label, long total) {
        this.label = label;
        this.total = total;
        this.startNanos = System.nanoTime();
        this.lastPrint = 0;
        this.images = 0;
    }

    /** Reports that {@code done} of {@code total} units are finished, {@code batchImages} more images processed. */
    public void update(long done, int batchImages, double loss, double lr) {
        images += batchImages;
        long now = System.nanoTime();
        boolean last = done >= total;
        if (!interactive && !last && (now - lastPrint) / 1e9 < logSeconds) return;
        if (interactive && !last && (now - lastPrint) / 1e9 < 0.2) return;
        lastPrint = now;
        double secs = Math.max(1e-9, (now - startNanos) / 1e9);
        double rate = images / secs;
        long etaSecs = done == 0 ? 0 : Math.round(secs * (total - done) / done);
        int width = 24, filled = (int) (width * done / Math.max(1, total));
        String bar = "=".repeat(filled) + (filled < width ? ">" + " ".repeat(width - filled - 1) : "");
        String line = String.format(Locale.ROOT, "%s [%s] %d/%d | %.1f img/s | loss %.4f | lr %.3g | ETA %s",
                label, bar, done, total, rate, loss, lr, duration(etaSecs));
        if (interactive) out.print("\r" + line + (last ? "\n" : ""));
        else out.println(line);
        out.flush();
    }

    public static String duration(long secs) {
        if (secs >= 3600) return String.format(Locale.ROOT, "%dh%02dm", secs / 3600, secs % 3600 / 60);
        if (secs >= 60) return String.format(Locale.ROOT, "%dm%02ds", secs / 60, secs % 60);
        return secs + "s";
    }
}
