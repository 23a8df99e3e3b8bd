package dev.polaformer.numerics.cpu;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;
import java.util.concurrent.ForkJoinWorkerThread;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.IntConsumer;

/**
 * Runs the parts of one kernel on a fixed set of threads. Work is handed out by an atomic counter, so
 * uneven parts balance themselves; the calling thread takes part, and a call made from inside a worker
 * runs serially (kernels do not nest parallelism).
 *
 * <p>The thread count is the machine's processor count unless {@code -Dpolaformer.threads=N} says otherwise.
 */
public final class Parallel {
    public static final String PROPERTY = "polaformer.threads";

    private final int threads;
    private final ForkJoinPool pool;

    public Parallel(int threads) {
        if (threads < 1) throw new IllegalArgumentException("thread count must be positive, got " + threads);
        this.threads = threads;
        this.pool = threads == 1 ? null : new ForkJoinPool(threads - 1, p -> {
            ForkJoinWorkerThread t = ForkJoinPool.defaultForkJoinWorkerThreadFactory.newThread(p);
            t.setName("polaformer-cpu-" + t.getPoolIndex());
            t.setDaemon(true);
            return t;
        }, null, false);
    }

    /** The thread count from {@code -Dpolaformer.threads}, else the number of processors. */
    public static int configuredThreads() {
        String v = System.getProperty(PROPERTY);
        if (v == null || v.isBlank()) return Runtime.getRuntime().availableProcessors();
        try {
            int n = Integer.parseInt(v.trim());
            if (n >= 1) return n;
        } catch (NumberFormatException ignored) {
            // fall through to the message below
        }
        throw new IllegalArgumentException("-D" + PROPERTY + "=" + v + " must be a positive integer");
    }

    public int threads() {
        return threads;
    }

    /** Runs {@code task.accept(i)} for every {@code i} in {@code [0, tasks)}, in parallel, and waits. */
    public void forEach(int tasks, IntConsumer task) {
        if (tasks <= 0) return;
        if (tasks == 1 || pool == null || Thread.currentThread() instanceof ForkJoinWorkerThread w && w.getPool() == pool) {
            for (int i = 0; i < tasks; i++) task.accept(i);
            return;
        }
        AtomicInteger next = new AtomicInteger();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Runnable worker = () -> {
            try {
                for (int i; failure.get() == null && (i = next.getAndIncrement()) < tasks; ) task.accept(i);
            } catch (Throwable t) {
                // kept as thrown: ForkJoinTask.join would hand back a copy without the original message
                if (!failure.compareAndSet(null, t)) failure.get().addSuppressed(t);
            }
        };
        int helpers = Math.min(threads, tasks) - 1;
        ForkJoinTask<?>[] running = new ForkJoinTask<?>[helpers];
        for (int h = 0; h < helpers; h++) running[h] = pool.submit(worker);
        worker.run();
        for (ForkJoinTask<?> r : running) r.join();
        Throwable t = failure.get();
        if (t instanceof RuntimeException re) throw re;
        if (t instanceof Error er) throw er;
        if (t != null) throw new IllegalStateException(t);
    }

    /**
     * Splits {@code [0, n)} into about {@code 4·threads} ranges of at least {@code minChunk} elements and runs
     * {@code body.run(start, end)} on each.
     */
    public void forRange(int n, int minChunk, RangeBody body) {
        if (n <= 0) return;
        int chunks = Math.max(1, Math.min(4 * threads, n / Math.max(1, minChunk)));
        if (chunks == 1) {
            body.run(0, n);
            return;
        }
        int size = (n + chunks - 1) / chunks;
        int count = (n + size - 1) / size;
        forEach(count, i -> body.run(i * size, Math.min(n, (i + 1) * size)));
    }

    @FunctionalInterface
    public interface RangeBody {
        void run(int start, int end);
    }
}
