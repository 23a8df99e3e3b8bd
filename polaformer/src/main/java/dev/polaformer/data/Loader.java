package dev.polaformer.data;

import dev.polaformer.infer.RgbImage;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The batches of one epoch, decoded and transformed on background threads.
 *
 * <p><b>What comes out</b> depends only on the arguments, never on thread timing:
 * <ul>
 * <li>The epoch's order is a permutation of the dataset drawn from {@code Rng.of(seed, SHUFFLE_STREAM, epoch)} (the
 *     identity without {@code shuffle}). Batch k takes the positions {@code k·B .. k·B+B−1} of that order; with
 *     {@code dropLast} the incomplete tail is not served.</li>
 * <li>The sample at position p of the epoch is transformed with {@code Rng.of(seed, SAMPLE_STREAM, epoch, p)}.</li>
 * <li>{@code startBatch = k} serves batches k, k+1, … of the same epoch, identical to those of a run from 0: a
 *     resumed run needs only (seed, epoch, batch index).</li>
 * <li>An unreadable sample (the dataset throws {@link IOException}, {@link UncheckedIOException} or
 *     {@link IllegalArgumentException}) is reported once per process to stderr with its reason, counted in
 *     {@link #skipped()}, and never ends the epoch. With {@code dropLast} (training) its place is filled by the next
 *     readable sample in the epoch order (wrapping around), transformed with the slot's own randomness, so every batch
 *     stays full; this is how timm's {@code ImageDataset} substitutes index+1. Without {@code dropLast} (evaluation)
 *     the sample is left out and that batch is shorter, so no image is counted twice; a batch left empty is not
 *     served. Either way batch k depends only on the samples from position k·B on, which keeps resumption and
 *     the workers=1 / workers=N equality exact.</li>
 * </ul>
 *
 * <p><b>How</b>: {@code workers} daemon threads each claim the next batch index, build the whole batch, wait for
 * its turn and put it on a {@link BlockingQueue} of capacity {@code prefetch}, so batches leave in order. At most
 * {@code prefetch} finished batches wait in the queue and at most {@code workers} more are being built or wait for
 * their turn: memory stays flat for any dataset size. The threads end by themselves once the epoch's last batch
 * is queued; {@link #close()} (use try-with-resources) stops them early, within about one image's work. An unexpected exception in a worker (a bug in a transform) is rethrown by {@link #hasNext()}/{@link #next()}
 * for the batch it happened in.
 */
public final class Loader implements AutoCloseable, Iterator<Batch> {
    private static final Object END = new Object();
    /** Samples already reported as unreadable in this process, so a corrupt file is reported once, not every epoch. */
    private static final Set<String> REPORTED = ConcurrentHashMap.newKeySet();

    private record Failure(int batch, Throwable cause) {}

    /** Thrown inside a worker to abandon its batch when the loader closes. */
    private static final class Cancelled extends RuntimeException {
        Cancelled() {
            super(null, null, false, false);
        }
    }

    private final Dataset data;
    private final Transform transform;
    private final int batchSize, batches, epoch, floatsPerImage;
    private final boolean dropLast;
    private final long seed;
    private final int[] order;
    private final BlockingQueue<Object> ready;
    private final AtomicInteger nextClaim;
    private final Object turnLock = new Object();
    private int turn;  // the batch whose builder may enqueue next; guarded by turnLock
    private final List<Thread> threads = new ArrayList<>();
    private final Set<Integer> unreadable = ConcurrentHashMap.newKeySet();
    private volatile boolean closed, failed;
    private Batch peeked;
    private boolean finished;

    public Loader(Dataset data, Transform t, int batchSize, boolean shuffle, boolean dropLast, long seed, int epoch,
                  int startBatch, int workers, int prefetch) {
        if (batchSize < 1 || workers < 1 || prefetch < 1) {
            throw new IllegalArgumentException("Loader: batchSize " + batchSize + ", workers " + workers + " and prefetch "
                    + prefetch + " must all be at least 1");
        }
        this.data = data;
        this.transform = t;
        this.batchSize = batchSize;
        this.dropLast = dropLast;
        this.seed = seed;
        this.epoch = epoch;
        this.floatsPerImage = t.floatsPerImage();
        int n = data.size();
        this.order = shuffle ? permutation(n, Rng.of(seed, Rng.SHUFFLE_STREAM, epoch)) : identity(n);
        this.batches = dropLast ? n / batchSize : (n + batchSize - 1) / batchSize;
        if (startBatch < 0 || startBatch > batches) {
            throw new IllegalArgumentException("Loader: startBatch " + startBatch + " is outside 0.." + batches
                    + " (" + n + " samples in batches of " + batchSize + (dropLast ? ", last partial batch dropped)" : ")"));
        }
        this.ready = new ArrayBlockingQueue<>(prefetch);
        this.nextClaim = new AtomicInteger(startBatch);
        this.turn = startBatch;
        if (startBatch == batches) {
            ready.add(END);
            return;
        }
        int threadCount = Math.min(workers, batches - startBatch);
        for (int i = 0; i < threadCount; i++) {
            Thread thread = new Thread(this::work, "polaformer-loader-e" + epoch + "-" + i);
            thread.setDaemon(true);
            threads.add(thread);
        }
        threads.forEach(Thread::start);
    }

    /** Fisher–Yates shuffle of 0..n−1. */
    static int[] permutation(int n, SplittableRandom rng) {
        int[] p = identity(n);
        for (int i = n - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int tmp = p[i];
            p[i] = p[j];
            p[j] = tmp;
        }
        return p;
    }

    private static int[] identity(int n) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i;
        return p;
    }

    /** Batches in a whole epoch (not only those left after {@code startBatch}). */
    public int batchesPerEpoch() { return batches; }

    /** Distinct samples found unreadable by this loader so far. */
    public int skipped() { return unreadable.size(); }

    // ---------------------------------------------------------------- consumer side

    @Override public boolean hasNext() {
        if (peeked != null) return true;
        if (finished || closed) return false;
        Object item;
        try {
            item = ready.take();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            close();
            throw new IllegalStateException("interrupted while waiting for a batch of epoch " + epoch, e);
        }
        if (item == END) {
            finished = true;
            return false;
        }
        if (item instanceof Failure f) {
            finished = true;
            close();
            if (f.cause() instanceof Error error) throw error;
            throw new IllegalStateException("building batch " + f.batch() + " of epoch " + epoch + " failed: " + f.cause(), f.cause());
        }
        peeked = (Batch) item;
        return true;
    }

    @Override public Batch next() {
        if (!hasNext()) throw new NoSuchElementException("epoch " + epoch + " has no more batches");
        Batch b = peeked;
        peeked = null;
        return b;
    }

    /** Stops the workers (they finish at most the image in hand) and drops the batches not yet taken. Idempotent. */
    @Override public void close() {
        if (closed) return;
        closed = true;
        threads.forEach(Thread::interrupt);
        ready.clear();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        for (Thread thread : threads) {
            try {
                thread.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    /** For tests: whether every worker thread has ended. */
    boolean workersStopped() {
        return threads.stream().noneMatch(Thread::isAlive);
    }

    // ---------------------------------------------------------------- worker side

    private void work() {
        try {
            while (!closed && !failed) {
                int k = nextClaim.getAndIncrement();
                if (k >= batches) return;
                Object result;
                try {
                    result = build(k);
                } catch (Cancelled c) {
                    return;
                } catch (Throwable e) {
                    result = new Failure(k, e);
                    failed = true;
                }
                awaitTurn(k);
                try {
                    if (!(result instanceof Batch b && b.count() == 0)) ready.put(result);
                    if (k == batches - 1 && !(result instanceof Failure)) ready.put(END);
                } finally {
                    advanceTurn();
                }
            }
        } catch (InterruptedException e) {
            // close() interrupts workers blocked on their turn or on a full queue: just end.
        }
    }

    private void awaitTurn(int k) throws InterruptedException {
        synchronized (turnLock) {
            while (turn != k) turnLock.wait();
        }
    }

    private void advanceTurn() {
        synchronized (turnLock) {
            turn++;
            turnLock.notifyAll();
        }
    }

    private Batch build(int k) {
        int from = k * batchSize, to = Math.min(from + batchSize, order.length);
        float[] images = new float[(to - from) * floatsPerImage];
        int[] labels = new int[to - from];
        int count = 0;
        for (int p = from; p < to; p++) {
            // Only close() abandons a batch: after a failure in another batch, earlier batches must still arrive
            // so that the failure, which waits for its turn, can be delivered.
            if (closed) throw new Cancelled();
            int q = p;
            RgbImage image = read(order[q]);
            if (image == null && dropLast) {
                for (int tries = 1; image == null; tries++) {
                    if (tries >= order.length) {
                        throw new IllegalStateException("none of the " + order.length + " samples of " + data.describe(order[p])
                                + "'s dataset could be read");
                    }
                    q = (q + 1) % order.length;
                    image = read(order[q]);
                }
            }
            if (image == null) continue;
            transform.apply(image, Rng.of(seed, Rng.SAMPLE_STREAM, epoch, p), images, count * floatsPerImage);
            labels[count++] = data.label(order[q]);
        }
        if (count < to - from) {
            images = Arrays.copyOf(images, count * floatsPerImage);
            labels = Arrays.copyOf(labels, count);
        }
        return new Batch(images, labels, count, epoch, k);
    }

    /** The decoded sample, or null if it cannot be read (reported once, counted). */
    private RgbImage read(int index) {
        if (unreadable.contains(index)) return null;
        try {
            return data.image(index);
        } catch (IOException | UncheckedIOException | IllegalArgumentException e) {
            if (closed) throw new Cancelled();  // an interrupted read during close() is not a corrupt file
            String what = data.describe(index);
            unreadable.add(index);
            if (REPORTED.add(what)) System.err.println("polaformer data: skipping unreadable sample " + what + ": " + e.getMessage());
            return null;
        }
    }
}
