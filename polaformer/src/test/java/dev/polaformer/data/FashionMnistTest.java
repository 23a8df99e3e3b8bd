package dev.polaformer.data;

import dev.polaformer.infer.RgbImage;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class FashionMnistTest {
    @TempDir Path dir;

    private static int[] histogram(FashionMnist data) {
        int[] h = new int[10];
        for (int i = 0; i < data.size(); i++) h[data.label(i)]++;
        return h;
    }

    @Test void bundledSubsetsHaveTheDocumentedSizesAndLabels() {
        FashionMnist train = FashionMnist.bundled("train"), test = FashionMnist.bundled("test");
        assertEquals(8000, train.size());
        assertEquals(2000, test.size());
        assertEquals(10, train.numClasses());
        assertEquals("Ankle boot", train.classNames().get(9));
        // The histograms recorded in fashion-mnist/README.md.
        assertArrayEquals(new int[] {747, 860, 809, 807, 763, 795, 807, 818, 792, 802}, histogram(train));
        assertArrayEquals(new int[] {200, 203, 214, 190, 219, 195, 197, 200, 194, 188}, histogram(test));
        assertEquals(9, train.label(0));
        assertEquals("fashion-mnist train (bundled subset) #123", train.describe(123));
    }

    @Test void imagesAreGrayReplicatedToRgb() {
        RgbImage img = FashionMnist.bundled("train").image(0);
        assertEquals(28, img.width());
        assertEquals(28, img.height());
        long sum = 0;
        for (int p = 0; p < 28 * 28; p++) {
            assertEquals(img.at(p % 28, p / 28, 0), img.at(p % 28, p / 28, 1));
            assertEquals(img.at(p % 28, p / 28, 0), img.at(p % 28, p / 28, 2));
            sum += img.at(p % 28, p / 28, 0);
        }
        assertEquals(76247, sum, "the first training image's pixel sum (from the raw file)");
        assertThrows(IndexOutOfBoundsException.class, () -> FashionMnist.bundled("test").image(2000));
    }

    @Test void readsPlainAndGzippedFiles() throws IOException {
        byte[] pixels = new byte[3 * 2 * 4];
        for (int i = 0; i < pixels.length; i++) pixels[i] = (byte) (10 * i);
        Path images = dir.resolve("images.idx"), labels = dir.resolve("labels.idx.gz");
        Files.write(images, IdxFile.encode(new int[] {3, 2, 4}, pixels));
        try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(labels))) {
            out.write(IdxFile.encode(new int[] {3}, new byte[] {4, 0, 9}));
        }
        FashionMnist data = FashionMnist.read(images, labels);
        assertEquals(3, data.size());
        assertEquals(9, data.label(2));
        RgbImage second = data.image(1);
        assertEquals(4, second.width());
        assertEquals(2, second.height());
        assertEquals(80, second.at(0, 0, 0));
        assertEquals(150, second.at(3, 1, 2));
    }

    @Test void badFilesGiveErrorsNamingThem() throws IOException {
        Path good = dir.resolve("good-labels");
        Files.write(good, IdxFile.encode(new int[] {2}, new byte[] {1, 2}));
        Path text = dir.resolve("notes.txt");
        Files.writeString(text, "hello, these are not images");
        String m = assertThrows(UncheckedIOException.class, () -> FashionMnist.read(text, good)).getMessage();
        assertTrue(m.contains("notes.txt") && m.contains("not an IDX file"), m);

        Path labelsAsImages = dir.resolve("labels-as-images");
        Files.write(labelsAsImages, IdxFile.encode(new int[] {2}, new byte[] {1, 2}));
        m = assertThrows(UncheckedIOException.class, () -> FashionMnist.read(labelsAsImages, good)).getMessage();
        assertTrue(m.contains("labels-as-images") && m.contains("00 00 08 01") && m.contains("expected"), m);

        Path truncated = dir.resolve("truncated");
        byte[] full = IdxFile.encode(new int[] {2, 28, 28}, new byte[2 * 784]);
        Files.write(truncated, java.util.Arrays.copyOf(full, full.length - 100));
        m = assertThrows(UncheckedIOException.class, () -> FashionMnist.read(truncated, good)).getMessage();
        assertTrue(m.contains("truncated") && m.contains("truncated"), m);

        Path three = dir.resolve("three-images");
        Files.write(three, IdxFile.encode(new int[] {3, 28, 28}, new byte[3 * 784]));
        m = assertThrows(IllegalArgumentException.class, () -> FashionMnist.read(three, good)).getMessage();
        assertTrue(m.contains("3 images") && m.contains("2 labels"), m);

        Path badLabel = dir.resolve("bad-label");
        Files.write(badLabel, IdxFile.encode(new int[] {3}, new byte[] {1, 10, 2}));
        m = assertThrows(IllegalArgumentException.class, () -> FashionMnist.read(three, badLabel)).getMessage();
        assertTrue(m.contains("label 10"), m);

        assertThrows(UncheckedIOException.class, () -> FashionMnist.read(dir.resolve("missing"), good));
        assertThrows(IllegalArgumentException.class, () -> FashionMnist.bundled("validation"));
    }

    @Test void theSystemCopyStartsWithTheBundledSubset() {
        Assumptions.assumeTrue(Files.isDirectory(FashionMnist.SYSTEM_DIR), "dataset-fashion-mnist is not installed");
        FashionMnist all = FashionMnist.system("test"), subset = FashionMnist.bundled("test");
        assertEquals(10_000, all.size());
        for (int i = 0; i < subset.size(); i += 97) {
            assertEquals(subset.label(i), all.label(i));
            assertArrayEquals(subset.image(i).rgb(), all.image(i).rgb());
        }
        assertEquals("fashion-mnist test #5", all.describe(5));
    }
}
