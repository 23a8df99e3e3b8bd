package dev.polaformer.data;

import dev.polaformer.infer.ImageDecoder;
import dev.polaformer.infer.Preprocess;
import dev.polaformer.infer.RgbImage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ImageFolderTest {
    @TempDir Path root;

    private static byte[] encode(int width, int height, String format, long seed) throws IOException {
        BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        SplittableRandom rng = new SplittableRandom(seed);
        for (int y = 0; y < height; y++) for (int x = 0; x < width; x++) img.setRGB(x, y, rng.nextInt(1 << 24));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageIO.write(img, format, out);
        return out.toByteArray();
    }

    private Path write(String relative, byte[] bytes) throws IOException {
        Path p = root.resolve(relative);
        Files.createDirectories(p.getParent());
        return Files.write(p, bytes);
    }

    @Test void classesAndFilesInTorchvisionOrder() throws IOException {
        write("dog/b.png", encode(5, 4, "png", 1));
        write("dog/a.jpg", encode(5, 4, "jpg", 2));
        write("cat/sub/x.png", encode(3, 3, "png", 3));
        write("cat/b.JPEG", encode(6, 2, "jpg", 4));
        write("cat/a-b.png", encode(2, 2, "png", 5));
        write("cat/notes.txt", "not an image".getBytes(StandardCharsets.UTF_8));
        write("Zebra/z.bmp", encode(4, 4, "bmp", 6));
        write("readme.png", encode(2, 2, "png", 7));  // files at the top are not samples
        ImageFolder data = ImageFolder.open(root);
        assertEquals(List.of("Zebra", "cat", "dog"), data.classNames(), "code-point order: upper case first");
        List<String> seen = new ArrayList<>();
        for (int i = 0; i < data.size(); i++) seen.add(data.label(i) + ":" + root.relativize(data.path(i)));
        assertEquals(List.of("0:Zebra/z.bmp", "1:cat/a-b.png", "1:cat/b.JPEG", "1:cat/sub/x.png", "2:dog/a.jpg", "2:dog/b.png"), seen);
        RgbImage x = data.image(3);
        assertEquals(3, x.width());
        assertTrue(data.describe(3).endsWith("x.png"));
    }

    @Test void emptyClassesAndMissingRootsAreErrors() throws IOException {
        write("a/one.png", encode(2, 2, "png", 1));
        Files.createDirectories(root.resolve("b"));
        String m = assertThrows(IllegalArgumentException.class, () -> ImageFolder.open(root)).getMessage();
        assertTrue(m.contains("for the classes b"), m);
        assertThrows(UncheckedIOException.class, () -> ImageFolder.open(root.resolve("nowhere")));
    }

    @Test void corruptFilesFailNamingTheirPath() throws IOException {
        byte[] jpeg = encode(120, 90, "jpg", 9);
        Path truncated = write("c/truncated.jpg", Arrays.copyOf(jpeg, jpeg.length / 2));
        Path text = write("c/text.jpg", "this is no JPEG".getBytes(StandardCharsets.UTF_8));
        Path empty = write("c/empty.png", new byte[0]);
        String m = assertThrows(IOException.class, () -> ImageDecoder.read(truncated)).getMessage();
        assertTrue(m.contains(truncated.toString()) && m.contains("damaged"), m);
        for (Path p : List.of(text, empty)) {
            m = assertThrows(IllegalArgumentException.class, () -> ImageDecoder.read(p)).getMessage();
            assertTrue(m.contains(p.toString()), m);
        }
        Path good = write("c/good.jpg", jpeg);
        assertEquals(120, ImageDecoder.read(good).width());
    }

    @Test void grayImagesKeepTheirLevels() throws IOException {
        // RgbImage.of goes through getRGB, which brightens the JDK's (linear) gray: 64 would become 137.
        BufferedImage gray = new BufferedImage(16, 16, BufferedImage.TYPE_BYTE_GRAY);
        for (int i = 0; i < 256; i++) gray.getRaster().setSample(i % 16, i / 16, 0, i);
        Path png = root.resolve("gray.png");
        ImageIO.write(gray, "png", png.toFile());
        RgbImage img = ImageDecoder.read(png);
        for (int i = 0; i < 256; i++) {
            for (int c = 0; c < 3; c++) assertEquals(i, img.at(i % 16, i / 16, c), "level " + i);
        }
        Path jpg = root.resolve("gray.jpg");
        ImageIO.write(gray, "jpg", jpg.toFile());
        RgbImage lossy = ImageDecoder.read(jpg);
        int worst = 0;
        for (int i = 0; i < 256; i++) worst = Math.max(worst, Math.abs(lossy.at(i % 16, i / 16, 1) - i));
        assertTrue(worst < 40, "JPEG keeps levels near the original (no gamma lift): worst " + worst);
        assertEquals(lossy.at(5, 5, 0), lossy.at(5, 5, 2));
    }

    @Test void theLoaderSkipsCorruptImagesOnceAndKeepsGoing() throws IOException {
        byte[] jpeg = encode(40, 30, "jpg", 10);
        for (int i = 0; i < 9; i++) write("ok/" + i + ".png", encode(12, 10, "png", 100 + i));
        write("ok/4b-truncated.jpg", Arrays.copyOf(jpeg, jpeg.length / 2));
        write("ok/7b-text.jpg", "garbage".getBytes(StandardCharsets.UTF_8));
        ImageFolder data = ImageFolder.open(root);
        assertEquals(11, data.size());
        Transform eval = new EvalTransform(Preprocess.imagenet(8));
        PrintStream stderr = System.err;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        System.setErr(new PrintStream(captured, true, StandardCharsets.UTF_8));
        try {
            // Evaluation: sequential, no dropLast: the two bad files are left out, batches get shorter.
            int images = 0;
            List<Integer> counts = new ArrayList<>();
            try (Loader loader = new Loader(data, eval, 4, false, false, 1, 0, 0, 2, 2)) {
                while (loader.hasNext()) {
                    Batch b = loader.next();
                    counts.add(b.count());
                    images += b.count();
                    assertEquals(b.count() * 8 * 8 * 3, b.images().length);
                }
                assertEquals(2, loader.skipped());
            }
            assertEquals(9, images);
            // Order 0 1 2 3 | 4 4b 5 6 | 7 7b 8: the bad files sit in the second and third batch.
            assertEquals(List.of(4, 3, 2), counts);
            // Training: shuffled, dropLast: every batch stays full.
            for (int epoch = 0; epoch < 2; epoch++) {
                try (Loader loader = new Loader(data, new TrainTransform(AugmentConfig.official(8)), 3, true, true, 5, epoch, 0, 2, 1)) {
                    int batches = 0;
                    while (loader.hasNext()) {
                        assertEquals(3, loader.next().count());
                        batches++;
                    }
                    assertEquals(3, batches);
                }
            }
        } finally {
            System.setErr(stderr);
        }
        String log = captured.toString(StandardCharsets.UTF_8);
        assertTrue(log.contains("4b-truncated.jpg") && log.contains("7b-text.jpg"), log);
        assertEquals(2, log.lines().count(), "each file reported once per process:\n" + log);
    }
}
