package dev.polaformer.data;

import dev.polaformer.infer.RgbImage;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LoaderTest {
    /** n small images whose first byte is the index (mod 256); label = index mod 7; some indices unreadable. */
    static final class Synthetic implements Dataset {
        final int n;
        final Set<Integer> broken;
        final AtomicInteger reads = new AtomicInteger();

        Synthetic(int n, Integer... broken) {
            this.n = n;
            this.broken = Set.of(broken);
        }

        @Override public int size() { return n; }
        @Override public int numClasses() { return 7; }
        @Override public List<String> classNames() { return List.of("a", "b", "c", "d", "e", "f", "g"); }
        @Override public int label(int index) { return index % 7; }

        @Override public RgbImage image(int index) throws IOException {
            reads.incrementAndGet();
            if (broken.contains(index)) throw new IOException("synthetic #" + index + " is broken");
            RgbImage img = Images.picture(13 + index % 5, 11 + index % 3);
            img.rgb()[0] = (byte) index;
            return img;
        }

        @Override public String describe(int index) { return "synthetic-" + System.identityHashCode(this) + " #" + index; }
    }

    /** Writes the sample's first byte and one draw from its generator: shows which sample and which randomness. */
    static final class Probe implements Transform {
        @Override public void apply(RgbImage image, SplittableRandom rng, float[] out, int offset) {
            out[offset] = image.rgb()[0] & 0xff;
            out[offset + 1] = rng.nextInt(1 << 20);
            out[offset + 2] = image.width();
        }

        @Override public int size() { return 1; }
    }

    private static List<Batch> all(Loader loader) {
        List<Batch> out = new ArrayList<>();
        try (loader) {
            loader.forEachRemaining(out::add);
        }
        return out;
    }

    private static void assertSameBatches(List<Batch> expected, List<Batch> actual) {
        assertEquals(expected.size(), actual.size());
        for (int i = 0; i < expected.size(); i++) {
            Batch e = expected.get(i), a = actual.get(i);
            assertEquals(e.index(), a.index());
            assertEquals(e.epoch(), a.epoch());
            assertEquals(e.count(), a.count());
            assertArrayEquals(e.labels(), a.labels(), "labels of batch " + e.index());
            assertArrayEquals(e.images(), a.images(), "images of batch " + e.index());
        }
    }

    @Test void sequentialEpochServesEverySampleInOrder() {
        Synthetic data = new Synthetic(23);
        List<Batch> batches = all(new Loader(data, new Probe(), 5, false, false, 1, 0, 0, 3, 2));
        assertEquals(5, batches.size());
        assertEquals(List.of(5, 5, 5, 5, 3), batches.stream().map(Batch::count).toList());
        int next = 0;
        for (Batch b : batches) {
            for (int i = 0; i < b.count(); i++, next++) {
                assertEquals(next, (int) b.images()[3 * i]);
                assertEquals(next % 7, b.labels()[i]);
            }
        }
        assertEquals(23, next);
        try (Loader dropping = new Loader(data, new Probe(), 5, false, true, 1, 0, 0, 1, 1)) {
            assertEquals(4, dropping.batchesPerEpoch());
            assertEquals(4, all(dropping).size());
        }
    }

    @Test void shuffleIsADeterministicPermutationPerEpoch() {
        Synthetic data = new Synthetic(50);
        List<Integer> e0 = order(new Loader(data, new Probe(), 10, true, true, 7, 0, 0, 2, 2));
        List<Integer> again = order(new Loader(data, new Probe(), 10, true, true, 7, 0, 0, 2, 2));
        List<Integer> e1 = order(new Loader(data, new Probe(), 10, true, true, 7, 1, 0, 2, 2));
        List<Integer> otherSeed = order(new Loader(data, new Probe(), 10, true, true, 8, 0, 0, 2, 2));
        assertEquals(e0, again);
        assertNotEquals(e0, e1);
        assertNotEquals(e0, otherSeed);
        assertEquals(50, new HashSet<>(e0).size(), "a permutation");
        assertNotEquals(e0.stream().sorted().toList(), e0);
    }

    private static List<Integer> order(Loader loader) {
        List<Integer> seen = new ArrayList<>();
        for (Batch b : all(loader)) for (int i = 0; i < b.count(); i++) seen.add((int) b.images()[3 * i]);
        return seen;
    }

    @Test void oneWorkerAndFourWorkersGiveIdenticalBatches() {
        FashionMnist data = FashionMnist.bundled("test");
        Dataset first300 = new Subset(data, 300);
        Transform t = new TrainTransform(AugmentConfig.official(32));
        List<Batch> one = all(new Loader(first300, t, 16, true, true, 42, 3, 0, 1, 1));
        List<Batch> four = all(new Loader(first300, t, 16, true, true, 42, 3, 0, 4, 3));
        assertEquals(18, one.size());
        assertSameBatches(one, four);
    }

    @Test void startBatchResumesWithTheSameBatches() {
        Synthetic data = new Synthetic(40, 13);
        Transform t = new TrainTransform(AugmentConfig.official(12));
        List<Batch> full = all(new Loader(data, t, 6, true, true, 3, 2, 0, 2, 2));
        List<Batch> resumed = all(new Loader(data, t, 6, true, true, 3, 2, 4, 3, 1));
        assertEquals(6, full.size());
        assertSameBatches(full.subList(4, 6), resumed);
        assertEquals(4, resumed.get(0).index());
        try (Loader done = new Loader(data, t, 6, true, true, 3, 2, 6, 2, 2)) {
            assertFalse(done.hasNext());
            assertThrows(NoSuchElementException.class, done::next);
        }
        assertThrows(IllegalArgumentException.class, () -> new Loader(data, t, 6, true, true, 3, 2, 7, 2, 2));
    }

    @Test void unreadableSamplesAreReplacedByTheNextOneWhenDroppingLast() {
        Synthetic data = new Synthetic(12, 2, 3, 11);
        List<Batch> batches;
        try (Loader loader = new Loader(data, new Probe(), 4, false, true, 1, 0, 0, 2, 2)) {
            batches = all(loader);
            assertEquals(3, loader.skipped());
        }
        // Positions 2 and 3 are broken: both take sample 4; position 11 wraps around to sample 0.
        assertEquals(List.of(0, 1, 4, 4), firstBytes(batches.get(0)));
        assertEquals(List.of(4, 5, 6, 7), firstBytes(batches.get(1)));
        assertEquals(List.of(8, 9, 10, 0), firstBytes(batches.get(2)));
        assertEquals(4, batches.get(0).labels()[3]);
        // The substitutes keep their slot's randomness, so the two copies of sample 4 differ.
        assertNotEquals(batches.get(0).images()[3 * 2 + 1], batches.get(0).images()[3 * 3 + 1]);

        Synthetic dead = new Synthetic(3, 0, 1, 2);
        try (Loader loader = new Loader(dead, new Probe(), 2, false, true, 1, 0, 0, 1, 1)) {
            IllegalStateException e = assertThrows(IllegalStateException.class, loader::hasNext);
            assertTrue(e.getMessage().contains("could be read"), e.getMessage());
        }
    }

    private static List<Integer> firstBytes(Batch b) {
        List<Integer> out = new ArrayList<>();
        for (int i = 0; i < b.count(); i++) out.add((int) b.images()[3 * i]);
        return out;
    }

    @Test void prefetchBoundsTheWorkAheadAndCloseStopsPromptly() throws InterruptedException {
        Synthetic data = new Synthetic(10_000);
        Loader loader = new Loader(data, new Probe(), 8, false, false, 1, 0, 0, 2, 3);
        Thread.sleep(300);
        int readAhead = data.reads.get();
        assertTrue(readAhead > 0 && readAhead <= (3 + 2) * 8, "read ahead " + readAhead + " samples");
        Batch first = loader.next();
        assertEquals(0, first.index());
        long start = System.nanoTime();
        loader.close();
        assertTrue(loader.workersStopped(), "workers ended");
        assertTrue(System.nanoTime() - start < 1_000_000_000L, "close took " + (System.nanoTime() - start) / 1e6 + " ms");
        assertFalse(loader.hasNext());
        loader.close();
    }

    @Test void aFailingTransformSurfacesInTheConsumer() {
        Transform bad = new Transform() {
            @Override public void apply(RgbImage image, SplittableRandom rng, float[] out, int offset) {
                if ((image.rgb()[0] & 0xff) == 9) throw new ArithmeticException("boom at 9");
            }

            @Override public int size() { return 1; }
        };
        try (Loader loader = new Loader(new Synthetic(40), bad, 4, false, false, 1, 0, 0, 3, 2)) {
            assertEquals(0, loader.next().index());
            assertEquals(1, loader.next().index());
            IllegalStateException e = assertThrows(IllegalStateException.class, loader::next);
            assertTrue(e.getMessage().contains("batch 2"), e.getMessage());
            assertSame(ArithmeticException.class, e.getCause().getClass());
            assertFalse(loader.hasNext());
        }
    }

    @Test void badArgumentsAreRefused() {
        Synthetic data = new Synthetic(4);
        assertThrows(IllegalArgumentException.class, () -> new Loader(data, new Probe(), 0, false, false, 1, 0, 0, 1, 1));
        assertThrows(IllegalArgumentException.class, () -> new Loader(data, new Probe(), 2, false, false, 1, 0, 0, 0, 1));
        assertThrows(IllegalArgumentException.class, () -> new Loader(data, new Probe(), 2, false, false, 1, 0, 0, 1, 0));
        assertThrows(IllegalArgumentException.class, () -> new Loader(data, new Probe(), 2, false, false, 1, 0, -1, 1, 1));
        try (Loader tooBig = new Loader(data, new Probe(), 8, false, true, 1, 0, 0, 1, 1)) {
            assertEquals(0, tooBig.batchesPerEpoch());
            assertFalse(tooBig.hasNext());
        }
    }

    @Test void rngStreamsDependOnEveryCoordinate() {
        long a = Rng.of(1, 2, 3).nextLong();
        assertEquals(a, Rng.of(1, 2, 3).nextLong());
        Set<Long> distinct = new HashSet<>(List.of(a, Rng.of(1, 3, 2).nextLong(), Rng.of(1, 2, 3, 0).nextLong(),
                Rng.of(2, 2, 3).nextLong(), Rng.of(1, 2).nextLong(), Rng.of(1).nextLong(), Rng.of(0).nextLong()));
        assertEquals(7, distinct.size());
        // Neighbouring counters give unrelated streams: about half the bits differ.
        int bits = 0;
        for (int i = 0; i < 1000; i++) bits += Long.bitCount(Rng.of(5, i).nextLong() ^ Rng.of(5, i + 1).nextLong());
        assertEquals(32, bits / 1000.0, 1.0);
    }

    /** The first n samples of a dataset. */
    record Subset(Dataset data, int n) implements Dataset {
        @Override public int size() { return n; }
        @Override public int numClasses() { return data.numClasses(); }
        @Override public List<String> classNames() { return data.classNames(); }
        @Override public int label(int index) { return data.label(index); }
        @Override public RgbImage image(int index) throws IOException { return data.image(index); }
        @Override public String describe(int index) { return data.describe(index); }
    }

}
