package dev.polaformer.golden;

import dev.polaformer.io.Json;
import dev.polaformer.io.SafetensorsFile;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The golden reference folder ({@code -Dpolaformer.golden.dir}, default {@code ../shared/golden}) and the
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

    public static Path dir() {
        String p = System.getProperty(PROPERTY);
        Path dir = Path.of(p == null || p.isBlank() ? "../shared/golden" : p);
        if (!Files.isDirectory(dir)) {
            throw new IllegalStateException("golden folder " + dir.toAbsolutePath() + " does not exist; set -D"
                    + PROPERTY + " to a folder of golden .safetensors files");
        }
        return dir;
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
