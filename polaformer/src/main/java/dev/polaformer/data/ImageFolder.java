package dev.polaformer.data;

import dev.polaformer.infer.ImageDecoder;
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
 * Gray images are replicated to RGB level for level ({@link RgbImage#read}); colour JPEGs decode to the same bytes
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

    @Override public RgbImage image(int index) throws IOException { return ImageDecoder.read(path(index)); }

    @Override public String describe(int index) { return path(index).toString(); }

    @Override public String toString() { return root + " (" + files.length + " images, " + classes.size() + " classes)"; }
}
