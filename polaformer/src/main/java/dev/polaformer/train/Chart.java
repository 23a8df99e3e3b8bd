package dev.polaformer.train;

import javax.imageio.ImageIO;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.Path2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Draws the training curves from a metrics file into a PNG: training loss per step (and its running mean) with
 * validation loss per epoch on the left, top-1 accuracy per epoch (model and EMA) on the right.
 */
public final class Chart {
    private Chart() {}

    private static final int W = 1100, H = 420, PAD = 55;

    public static void write(Path metrics, Path png) throws IOException {
        List<Map<String, Object>> records = Metrics.read(metrics);
        TreeMap<Double, Double> stepLoss = new TreeMap<>(), valLoss = new TreeMap<>(), top1 = new TreeMap<>(), emaTop1 = new TreeMap<>();
        double stepsPerEpoch = 0;
        for (var r : records) {
            if ("step".equals(r.get("type"))) {
                stepLoss.put(num(r, "step"), num(r, "loss"));
                if (r.get("steps_per_epoch") != null) stepsPerEpoch = num(r, "steps_per_epoch");
            } else if ("epoch".equals(r.get("type"))) {
                double e = num(r, "epoch") + 1;
                if (r.get("val_loss") != null) valLoss.put(e, num(r, "val_loss"));
                if (r.get("top1") != null) top1.put(e, num(r, "top1"));
                if (r.get("ema_top1") != null) emaTop1.put(e, num(r, "ema_top1"));
            }
        }
        BufferedImage img = new BufferedImage(W, H, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, W, H);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        // Left: loss against epochs (steps are converted when steps per epoch is known).
        TreeMap<Double, Double> lossByEpoch = new TreeMap<>();
        double spe = stepsPerEpoch;
        stepLoss.forEach((s, l) -> lossByEpoch.put(spe > 0 ? (s + 1) / spe : s, l));
        panel(g, 0, "loss", spe > 0 ? "epoch" : "step",
                List.of(new Series("train (step)", new Color(170, 190, 230), lossByEpoch, false),
                        new Series("train (running mean)", new Color(30, 80, 200), runningMean(lossByEpoch, 50), false),
                        new Series("validation", new Color(220, 90, 30), valLoss, true)));
        panel(g, W / 2, "top-1 accuracy (%)", "epoch",
                List.of(new Series("model", new Color(30, 140, 60), top1, true),
                        new Series("EMA", new Color(140, 60, 170), emaTop1, true)));
        g.dispose();
        Path tmp = Files.createTempFile(png.toAbsolutePath().getParent(), png.getFileName().toString(), ".tmp");
        ImageIO.write(img, "png", tmp.toFile());
        Files.move(tmp, png, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    private record Series(String name, Color color, TreeMap<Double, Double> points, boolean markers) {}

    private static void panel(Graphics2D g, int x0, String title, String xLabel, List<Series> series) {
        int left = x0 + PAD, right = x0 + W / 2 - 20, top = 35, bottom = H - PAD;
        double minX = Double.MAX_VALUE, maxX = -Double.MAX_VALUE, minY = Double.MAX_VALUE, maxY = -Double.MAX_VALUE;
        for (Series s : series) {
            for (var e : s.points.entrySet()) {
                if (!Double.isFinite(e.getValue())) continue;
                minX = Math.min(minX, e.getKey());
                maxX = Math.max(maxX, e.getKey());
                minY = Math.min(minY, e.getValue());
                maxY = Math.max(maxY, e.getValue());
            }
        }
        g.setColor(Color.BLACK);
        g.drawString(title, left, top - 12);
        g.drawRect(left, top, right - left, bottom - top);
        g.drawString(xLabel, (left + right) / 2 - 15, H - 15);
        if (minX > maxX) {
            g.drawString("no data yet", left + 20, top + 30);
            return;
        }
        minX = Math.min(minX, 0);  // epochs count from 0: ticks at round fractions of the run
        if (maxX == minX) maxX = minX + 1;
        if (maxY == minY) maxY = minY + 1;
        double padY = 0.05 * (maxY - minY);
        minY -= padY;
        maxY += padY;
        for (int i = 0; i <= 4; i++) {
            double vy = minY + (maxY - minY) * i / 4, vx = minX + (maxX - minX) * i / 4;
            int py = (int) (bottom - (bottom - top) * i / 4.0), px = (int) (left + (right - left) * i / 4.0);
            g.setColor(new Color(230, 230, 230));
            g.drawLine(left + 1, py, right - 1, py);
            g.setColor(Color.DARK_GRAY);
            g.drawString(String.format(Locale.ROOT, "%.3g", vy), x0 + 5, py + 4);
            g.drawString(String.format(Locale.ROOT, "%.3g", vx), px - 10, bottom + 15);
        }
        // The legend goes in the corner the curves leave free: below them when they end high (accuracy).
        Map.Entry<Double, Double> last = series.getFirst().points.lastEntry();
        boolean endsHigh = last != null && last.getValue() > (minY + maxY) / 2;
        int shown = (int) series.stream().filter(s -> !s.points.isEmpty()).count();
        int legendY = endsHigh ? bottom - 8 - 15 * (shown - 1) : top + 15;
        g.setColor(Color.WHITE);
        g.fillRect(right - 156, legendY - 12, 150, 15 * shown + 2);
        for (Series s : series) {
            if (s.points.isEmpty()) continue;
            g.setColor(s.color);
            g.setStroke(new BasicStroke(s.markers ? 2f : 1.3f));
            Path2D path = new Path2D.Double();
            boolean first = true;
            for (var e : s.points.entrySet()) {
                if (!Double.isFinite(e.getValue())) continue;
                double px = left + (right - left) * (e.getKey() - minX) / (maxX - minX);
                double py = bottom - (bottom - top) * (e.getValue() - minY) / (maxY - minY);
                if (first) path.moveTo(px, py); else path.lineTo(px, py);
                first = false;
                if (s.markers) g.fillOval((int) px - 3, (int) py - 3, 6, 6);
            }
            g.draw(path);
            g.drawString(s.name, right - 150, legendY);
            legendY += 15;
        }
        g.setStroke(new BasicStroke(1f));
    }

    private static TreeMap<Double, Double> runningMean(TreeMap<Double, Double> in, int window) {
        TreeMap<Double, Double> out = new TreeMap<>();
        List<Double> buf = new ArrayList<>();
        double sum = 0;
        for (var e : in.entrySet()) {
            buf.add(e.getValue());
            sum += e.getValue();
            if (buf.size() > window) sum -= buf.remove(0);
            out.put(e.getKey(), sum / buf.size());
        }
        return out;
    }

    private static double num(Map<String, Object> r, String k) {
        Object v = r.get(k);
        return v instanceof Number n ? n.doubleValue() : Double.NaN;
    }
}
