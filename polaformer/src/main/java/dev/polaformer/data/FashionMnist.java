package dev.polaformer.data;

import dev.polaformer.infer.RgbImage;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * Fashion-MNIST (Zalando Research, MIT licence): 28×28 grayscale images of 10 clothing classes, 60,000 for training
 * and 10,000 for testing, in IDX files. Images are served as RGB with the gray level replicated in all three
 * channels, as {@code Image.convert("RGB")} would give. Held in memory (47 MB for the full training set).
 *
 * <p>Three sources: {@link #read} any pair of IDX files (gzipped or not); {@link #bundled} the subset shipped in
 * this jar (the first 8,000 training and 2,000 test images, see {@code fashion-mnist/README.md} beside the data);
 * {@link #system} the full set installed by Debian's {@code dataset-fashion-mnist} package.
 */
public final class FashionMnist implements Dataset {
    public static final List<String> CLASSES = List.of(
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot");
    public static final Path SYSTEM_DIR = Path.of("/usr/share/datasets/fashion-mnist");
    private static final String RESOURCE_DIR = "fashion-mnist/";

    private final String name;
    private final int count, rows, cols;
    private final byte[] pixels;
    private final byte[] labels;

    private FashionMnist(String name, IdxFile images, IdxFile labels) {
        int[] d = images.dimensions();
        if (labels.dimensions()[0] != d[0]) {
            throw new IllegalArgumentException(images.name() + " holds " + d[0] + " images but " + labels.name()
                    + " holds " + labels.dimensions()[0] + " labels");
        }
        for (int i = 0; i < labels.data().length; i++) {
            int label = labels.data()[i] & 0xff;
            if (label >= CLASSES.size()) {
                throw new IllegalArgumentException(labels.name() + ": label " + label + " of item " + i + " is outside 0..9");
            }
        }
        if (d[1] < 1 || d[2] < 1) throw new IllegalArgumentException(images.name() + ": empty images " + d[1] + "×" + d[2]);
        this.name = name;
        this.count = d[0];
        this.rows = d[1];
        this.cols = d[2];
        this.pixels = images.data();
        this.labels = labels.data();
    }

    /** Reads an images file (IDX, 3 dimensions) and its labels file (IDX, 1 dimension); gzipped or not. */
    public static FashionMnist read(Path imagesIdx, Path labelsIdx) {
        try (InputStream images = Files.newInputStream(imagesIdx); InputStream labels = Files.newInputStream(labelsIdx)) {
            return new FashionMnist("fashion-mnist " + imagesIdx.getFileName(),
                    IdxFile.read(images, imagesIdx.toString(), 3), IdxFile.read(labels, labelsIdx.toString(), 1));
        } catch (IOException e) {
            throw new UncheckedIOException(e.getMessage(), e);
        }
    }

    /** The subset bundled in this jar: {@code "train"} (8,000 images) or {@code "test"} (2,000 images). */
    public static FashionMnist bundled(String split) {
        String prefix = filePrefix(split);
        String images = RESOURCE_DIR + prefix + "-images-idx3-ubyte.gz", labels = RESOURCE_DIR + prefix + "-labels-idx1-ubyte.gz";
        try (InputStream im = resource(images); InputStream lb = resource(labels)) {
            return new FashionMnist("fashion-mnist " + split + " (bundled subset)",
                    IdxFile.read(im, "resource " + images, 3), IdxFile.read(lb, "resource " + labels, 1));
        } catch (IOException e) {
            throw new UncheckedIOException(e.getMessage(), e);
        }
    }

    /** The full set from {@code /usr/share/datasets/fashion-mnist/}: {@code "train"} (60,000) or {@code "test"} (10,000). */
    public static FashionMnist system(String split) {
        String prefix = filePrefix(split);
        Path images = SYSTEM_DIR.resolve(prefix + "-images-idx3-ubyte.gz"), labels = SYSTEM_DIR.resolve(prefix + "-labels-idx1-ubyte.gz");
        for (Path p : List.of(images, labels)) {
            if (!Files.isRegularFile(p)) {
                throw new UncheckedIOException(new java.nio.file.NoSuchFileException(p + " is missing: the full Fashion-MNIST"
                        + " comes from Debian's package (apt-get install dataset-fashion-mnist); FashionMnist.bundled(\""
                        + split + "\") has a subset"));
            }
        }
        FashionMnist all = read(images, labels);
        return new FashionMnist("fashion-mnist " + split, all);
    }

    private FashionMnist(String name, FashionMnist other) {
        this.name = name;
        this.count = other.count;
        this.rows = other.rows;
        this.cols = other.cols;
        this.pixels = other.pixels;
        this.labels = other.labels;
    }

    private static String filePrefix(String split) {
        return switch (Objects.requireNonNull(split, "split")) {
            case "train" -> "train";
            case "test" -> "t10k";
            default -> throw new IllegalArgumentException("Fashion-MNIST split \"" + split + "\": expected \"train\" or \"test\"");
        };
    }

    private static InputStream resource(String name) throws IOException {
        InputStream in = FashionMnist.class.getResourceAsStream(name);
        if (in == null) throw new IOException("resource " + FashionMnist.class.getPackageName().replace('.', '/') + "/" + name + " is missing from the jar");
        return in;
    }

    @Override public int size() { return count; }

    @Override public int numClasses() { return CLASSES.size(); }

    @Override public List<String> classNames() { return CLASSES; }

    @Override public int label(int index) {
        Objects.checkIndex(index, count);
        return labels[index] & 0xff;
    }

    @Override public RgbImage image(int index) {
        Objects.checkIndex(index, count);
        int n = rows * cols;
        byte[] rgb = new byte[n * 3];
        for (int i = 0, src = index * n; i < n; i++, src++) {
            byte g = pixels[src];
            rgb[3 * i] = g;
            rgb[3 * i + 1] = g;
            rgb[3 * i + 2] = g;
        }
        return new RgbImage(cols, rows, rgb);
    }

    @Override public String describe(int index) { return name + " #" + index; }

    @Override public String toString() { return name + " (" + count + " images " + cols + "×" + rows + ")"; }
}
