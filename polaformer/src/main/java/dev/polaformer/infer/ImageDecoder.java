package dev.polaformer.infer;

import javax.imageio.IIOException;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;

/**
 * Decodes image files into {@link RgbImage}s with the JDK's ImageIO (JPEG, PNG, BMP, GIF): grayscale, palette,
 * 16-bit and alpha images are converted (alpha dropped, 16-bit reduced to 8); CMYK and other colour spaces are
 * refused with a message. The one place that needs {@code java.desktop}.
 */
public final class ImageDecoder {
    private ImageDecoder() {}

    /**
     * Decodes an image file. Truncated or damaged data is refused (the JDK's decoders would otherwise fill the rest
     * with gray and only warn). Throws {@link IOException} for files that cannot be read or are damaged and
     * {@link IllegalArgumentException} for contents that are no supported image; both name the path.
     */
    public static RgbImage read(Path path) throws IOException {
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
            String format = reader.getFormatName();
            try {
                reader.setInput(in);
                image = reader.read(0);
            } catch (IIOException e) {
                String why = String.valueOf(e.getMessage());
                if (why.contains("Unsupported Image Type") || why.contains("CMYK") || why.contains("YCCK")) {
                    throw new IllegalArgumentException(path + ": " + format + " in a CMYK/YCCK colour space is"
                            + " not supported; convert it to RGB first (e.g. `convert in.jpg -colorspace sRGB out.jpg`)", e);
                }
                throw new IOException(path + ": cannot decode the " + format + " image: " + why, e);
            } catch (RuntimeException e) {  // decoders of damaged files also fail with index and size errors
                throw new IllegalArgumentException(path + ": cannot decode the image: " + e, e);
            } finally {
                reader.dispose();
            }
            if (!damage.isEmpty()) throw new IOException(path + ": damaged " + format + " data (" + String.join("; ", damage) + ")");
            return of(image, path.toString());
        }
    }

    /** Converts any RGB-compatible image; {@code name} appears in error messages. */
    public static RgbImage of(BufferedImage image, String name) {
        RgbImage gray = grayToRgb(image);
        if (gray != null) return gray;
        ColorSpace cs = image.getColorModel().getColorSpace();
        if (cs.getType() != ColorSpace.TYPE_RGB && cs.getType() != ColorSpace.TYPE_GRAY) {
            String space = switch (cs.getType()) {
                case ColorSpace.TYPE_CMYK -> "CMYK";
                case ColorSpace.TYPE_YCbCr -> "YCbCr";
                default -> "type " + cs.getType();
            };
            throw new IllegalArgumentException(name + ": images in the " + space + " colour space are not supported;"
                    + " convert to RGB first (e.g. `convert in.jpg -colorspace sRGB out.jpg`)");
        }
        int w = image.getWidth(), h = image.getHeight();
        byte[] rgb = new byte[w * h * 3];
        int[] row = new int[w];
        for (int y = 0; y < h; y++) {
            // getRGB maps palette, gray and 16-bit samples to 8-bit sRGB and ignores nothing but alpha, which we drop.
            image.getRGB(0, y, w, 1, row, 0, w);
            for (int x = 0; x < w; x++) {
                int p = row[x], o = (y * w + x) * 3;
                rgb[o] = (byte) (p >> 16);
                rgb[o + 1] = (byte) (p >> 8);
                rgb[o + 2] = (byte) p;
            }
        }
        return new RgbImage(w, h, rgb);
    }

    /**
     * A gray image (JPEG or PNG, with or without alpha) as RGB with the level replicated, as Pillow's
     * {@code convert("RGB")} gives; null for other images. Needed because {@link BufferedImage#getRGB} treats the
     * JDK's gray colour space as linear and brightens every level on the way to sRGB (64 becomes 137).
     * 16-bit gray keeps its high byte.
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
}
