package dev.polaformer.data;

import dev.polaformer.infer.RgbImage;

import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileVisitOption;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;

/**
 * A folder of images, one subfolder per class ({@code root/<class>/**}/*.jpg), read like torchvision's
 * {@code ImageFolder}: the classes are the subfolder names sorted by code point (label i = i-th name), each class
 * folder is walked recursively (following links) and its files are ordered by (folder, name), and a class with no
 * image is an error. Accepted extensions, in any case: jpg, jpeg, png, bmp, gif (what the JDK decodes; torchvision
 * would also list ppm, pgm, tif and webp, which could not be read here).
 *
 * <p>Decoding is stricter than {@link RgbImage#read}: the JDK's JPEG reader returns a half-gray image for a
 * truncated file and only reports a warning, where Pillow raises "image file is truncated"; such warnings are
 * turned into an {@link IOException} naming the file, so the loader skips the sample instead of training on it.
 * CMYK JPEGs (a few in ImageNet) are refused with an {@link IllegalArgumentException} (Pillow would convert them).
 * Gray images are replicated to RGB level for level ({@link #grayToRgb}); colour JPEGs decode to the same bytes
 * as Pillow 9.4 gives (checked on 4:2:0 and 4:4:4 files).
 *
 * <p>Paths are kept as strings relative to their class folder, about 70 bytes a file (90 MB for ImageNet-1k).
 */
public final class ImageFolder implements Dataset {
    private static final Set<String> EXTENSIONS = Set.of("jpg", "jpeg", "png", "bmp", "gif");

    private final Path root;
    private final List<String> classes;
    private final String[] files;
    private final int[] labels;

    private ImageFolder(Path root, List<String> classes, String[] files, int[] labels) {
        this.root = root;
        this.classes = classes;
        this.files = files;
        this.labels = labels;
    }

    public static ImageFolder open(Path root) {
        if (!Files.isDirectory(root)) throw new UncheckedIOException(new IOException(root + " is not a directory"));
        try {
            List<String> classes;
            try (Stream<Path> entries = Files.list(root)) {
                classes = entries.filter(Files::isDirectory).map(p -> p.getFileName().toString()).sorted().toList();
            }
            if (classes.isEmpty()) throw new IllegalArgumentException(root + " has no class subfolders (expected root/<class>/<image>)");
            List<String> files = new ArrayList<>();
            List<Integer> labels = new ArrayList<>();
            Set<String> empty = new TreeSet<>();
            for (int c = 0; c < classes.size(); c++) {
                Path dir = root.resolve(classes.get(c));
                List<Path> found;
                try (Stream<Path> walk = Files.walk(dir, FileVisitOption.FOLLOW_LINKS)) {
                    found = walk.filter(p -> isImageName(p.getFileName().toString()) && Files.isRegularFile(p))
                            .map(dir::relativize)
                            .sorted(BY_FOLDER_THEN_NAME)
                            .toList();
                }
                if (found.isEmpty()) empty.add(classes.get(c));
                for (Path p : found) {
                    files.add(p.toString());
                    labels.add(c);
                }
            }
            if (!empty.isEmpty()) {
                throw new IllegalArgumentException(root + ": found no image (" + String.join(", ", new TreeSet<>(EXTENSIONS))
                        + ") for the classes " + String.join(", ", empty));
            }
            return new ImageFolder(root, classes, files.toArray(String[]::new), labels.stream().mapToInt(Integer::intValue).toArray());
        } catch (IOException e) {
            throw new UncheckedIOException(root + ": " + e.getMessage(), e);
        }
    }

    /** torchvision's order: {@code sorted(os.walk(class_dir))}, then the sorted file names in each folder. */
    private static final Comparator<Path> BY_FOLDER_THEN_NAME = Comparator
            .comparing((Path p) -> p.getParent() == null ? "" : p.getParent().toString())
            .thenComparing(p -> p.getFileName().toString());

    static boolean isImageName(String name) {
        int dot = name.lastIndexOf('.');
        return dot > 0 && EXTENSIONS.contains(name.substring(dot + 1).toLowerCase(Locale.ROOT));
    }

    public Path root() { return root; }

    public Path path(int index) {
        return root.resolve(classes.get(labels[Objects.checkIndex(index, files.length)])).resolve(files[index]);
    }

    @Override public int size() { return files.length; }

    @Override public int numClasses() { return classes.size(); }

    @Override public List<String> classNames() { return classes; }

    @Override public int label(int index) { return labels[Objects.checkIndex(index, files.length)]; }

    @Override public RgbImage image(int index) throws IOException { return decode(path(index)); }

    @Override public String describe(int index) { return path(index).toString(); }

    /**
     * Decodes an image file, refusing truncated data (see the class comment). Throws {@link IOException} for files
     * that cannot be read or are truncated, {@link IllegalArgumentException} for contents that are no supported
     * image; both name the path.
     */
    public static RgbImage decode(Path path) throws IOException {
        if (!Files.isRegularFile(path)) throw new IOException(path + ": no such file");
        try (ImageInputStream in = ImageIO.createImageInputStream(path.toFile())) {
            if (in == null) throw new IOException(path + ": cannot open");
            Iterator<ImageReader> readers = ImageIO.getImageReaders(in);
            if (!readers.hasNext()) {
                throw new IllegalArgumentException(path + " is not an image this library can read (JPEG, PNG, BMP or GIF)");
            }
            ImageReader reader = readers.next();
            List<String> damage = new ArrayList<>();
            reader.addIIOReadWarningListener((source, warning) -> {
                String w = warning.toLowerCase(Locale.ROOT);
                if (w.contains("truncated") || w.contains("premature end")) damage.add(warning);
            });
            BufferedImage image;
            String format;
            try {
                format = reader.getFormatName();
                reader.setInput(in);  // as RgbImage.read, so training and inference decode alike
                image = reader.read(0);
            } catch (IOException e) {
                throw new IOException(path + ": cannot decode the " + reader.getFormatName() + " image: " + e.getMessage(), e);
            } catch (RuntimeException e) {  // decoders of damaged files also fail with index and size errors
                throw new IllegalArgumentException(path + ": cannot decode the image: " + e, e);
            } finally {
                reader.dispose();
            }
            if (!damage.isEmpty()) throw new IOException(path + ": damaged " + format + " data (" + String.join("; ", damage) + ")");
            RgbImage gray = grayToRgb(image);
            return gray != null ? gray : RgbImage.of(image, path.toString());
        }
    }

    /**
     * A gray image (JPEG or PNG, with or without alpha) as RGB with the level replicated, as Pillow's
     * {@code convert("RGB")} gives; null for other images. Needed because {@link BufferedImage#getRGB}, which
     * {@link RgbImage#of} uses, treats the JDK's gray colour space as linear and brightens every level on the way
     * to sRGB (64 becomes 137). 16-bit gray keeps its high byte.
     */
    static RgbImage grayToRgb(BufferedImage image) {
        if (image.getColorModel().getColorSpace().getType() != ColorSpace.TYPE_GRAY
                || image.getColorModel() instanceof IndexColorModel) {
            return null;
        }
        Raster raster = image.getRaster();
        int bits = raster.getSampleModel().getSampleSize(0);
        if (bits != 8 && bits != 16) return null;
        int w = image.getWidth(), h = image.getHeight();
        byte[] rgb = new byte[w * h * 3];
        int[] row = new int[w];
        for (int y = 0; y < h; y++) {
            raster.getSamples(0, y, w, 1, 0, row);
            for (int x = 0; x < w; x++) {
                byte v = (byte) (bits == 8 ? row[x] : row[x] >>> 8);
                int o = (y * w + x) * 3;
                rgb[o] = v;
                rgb[o + 1] = v;
                rgb[o + 2] = v;
            }
        }
        return new RgbImage(w, h, rgb);
    }

    @Override public String toString() { return root + " (" + files.length + " images, " + classes.size() + " classes)"; }
}
