package dev.polaformer.golden;

import dev.polaformer.io.Json;
import dev.polaformer.io.SafetensorsFile;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The golden reference folder (see {@link #dir}; by default {@code ../shared/golden} beside the checkout) and the
 * tolerances its README prescribes.
 */
public final class Golden {
    private Golden() {}

    public static final String PROPERTY = "polaformer.golden.dir";

    /** forward: |got − ref| ≤ 1e-4·max|ref| + 1e-3·|ref|. */
    public static final double FORWARD_ABS = 1e-4, FORWARD_REL = 1e-3;
    /** gradients: |got − ref| ≤ 2e-4·max|ref| + 1e-3·|ref|. */
    public static final double GRAD_ABS = 2e-4, GRAD_REL = 1e-3;
    /** loss: absolute. */
    public static final double LOSS_ABS = 1e-5;

    /**
     * The folder named by {@code -Dpolaformer.golden.dir} or {@code POLAFORMER_GOLDEN_DIR} (which must exist),
     * else the first that exists of {@code shared/golden} beside this checkout and beside the checkout it was
     * cloned from (a clone made elsewhere of a local checkout finds the reference data its origin uses). Fails,
     * naming every place looked at, when there is none: parity with the golden files is not optional.
     */
    public static Path dir() {
        String named = System.getProperty(PROPERTY);
        if (named == null || named.isBlank()) named = System.getenv("POLAFORMER_GOLDEN_DIR");
        if (named != null && !named.isBlank()) {
            Path dir = Path.of(named);
            if (!Files.isDirectory(dir)) {
                throw new IllegalStateException("golden folder " + dir.toAbsolutePath() + " (from -D" + PROPERTY
                        + " or POLAFORMER_GOLDEN_DIR) does not exist");
            }
            return dir;
        }
        List<Path> tried = new ArrayList<>();
        Path checkout = checkout();
        if (checkout != null) {
            tried.add(checkout.resolve("../shared/golden").normalize());
            Path origin = localOrigin(checkout);
            if (origin != null) tried.add(origin.resolve("../shared/golden").normalize());
        }
        for (Path dir : tried) if (Files.isDirectory(dir)) return dir;
        throw new IllegalStateException("no golden folder: looked for " + tried + "; set -D" + PROPERTY
                + " (or POLAFORMER_GOLDEN_DIR) to a folder of golden .safetensors files");
    }

    /** The checkout's root: {@code -Dpolaformer.checkout} (set by the build), else the nearest folder with .git. */
    private static Path checkout() {
        String set = System.getProperty("polaformer.checkout");
        if (set != null && !set.isBlank()) return Path.of(set).toAbsolutePath();
        for (Path d = Path.of("").toAbsolutePath(); d != null; d = d.getParent()) {
            if (Files.exists(d.resolve(".git"))) return d;
        }
        return null;
    }

    /** The folder of the repository {@code origin} points to, when it is a local path; else null. */
    private static Path localOrigin(Path checkout) {
        Path config = checkout.resolve(".git/config");
        if (!Files.isRegularFile(config)) return null;
        try {
            boolean inOrigin = false;
            for (String line : Files.readAllLines(config)) {
                String t = line.strip();
                if (t.startsWith("[")) inOrigin = t.equals("[remote \"origin\"]");
                else if (inOrigin && t.startsWith("url")) {
                    String url = t.substring(t.indexOf('=') + 1).strip();
                    if (url.startsWith("file://")) url = url.substring("file://".length());
                    return url.startsWith("/") ? Path.of(url) : null;
                }
            }
        } catch (IOException e) {
            return null; // an unreadable config only means no origin to look beside
        }
        return null;
    }

    /** Every .safetensors file of the folder, sorted by name. */
    public static List<Path> files() throws IOException {
        try (Stream<Path> s = Files.list(dir())) {
            return s.filter(f -> f.getFileName().toString().endsWith(".safetensors")).sorted().toList();
        }
    }

    public static String module(SafetensorsFile f) {
        String m = f.metadata().get("module");
        if (m == null) throw new IllegalArgumentException(f.path() + " has no 'module' metadata tag");
        return m;
    }

    public static Map<String, Object> config(SafetensorsFile f) {
        String c = f.metadata().get("config");
        return c == null ? Map.of() : Json.parseObject(c);
    }

    public static int intOf(Map<String, Object> config, String key) {
        Object v = config.get(key);
        if (!(v instanceof Number n)) throw new IllegalArgumentException("golden config lacks integer '" + key + "': " + config);
        return n.intValue();
    }

    /** NCHW host data → NHWC. */
    public static float[] toNhwc(float[] nchw, int b, int c, int h, int w) {
        float[] out = new float[nchw.length];
        for (int n = 0; n < b; n++)
            for (int ch = 0; ch < c; ch++)
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++) out[((n * h + y) * w + x) * c + ch] = nchw[((n * c + ch) * h + y) * w + x];
        return out;
    }

    /** NHWC host data → NCHW. */
    public static float[] toNchw(float[] nhwc, int b, int c, int h, int w) {
        float[] out = new float[nhwc.length];
        for (int n = 0; n < b; n++)
            for (int ch = 0; ch < c; ch++)
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++) out[((n * c + ch) * h + y) * w + x] = nhwc[((n * h + y) * w + x) * c + ch];
        return out;
    }
}
