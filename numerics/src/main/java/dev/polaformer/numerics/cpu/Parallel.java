package dev.polaformer.numerics.cpu;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntConsumer;

/**
 * Runs the parts of one kernel on a fixed set of threads. Work is handed out by an atomic counter, so
 * uneven parts balance themselves; the calling thread takes part, and a call made from inside a worker
 * runs serially (kernels do not nest parallelism).
 *
 * <p><b>Why not a ForkJoinPool.</b> A model runs hundreds of kernels per forward, many of them a few tens of
 * microseconds long, back to back; handing each to a pool whose threads park between calls cost 20–40 µs per
 * call here (waking a parked thread, then joining it), as much as the small kernels themselves: b0 at batch 1
 * ran only 1.17× faster on two threads than on one. Here each worker polls for the next job for
 * {@link #SPIN_NANOS} after finishing one, so a kernel that follows within that time starts on all threads at
 * once (a volatile write and read); only then does the worker park. The workers are daemon threads that live
 * as long as this object.
 *
 * <p>One job runs at a time: a second thread that calls while a job runs runs its own work serially (a backend
 * serves concurrent callers; they share the cores anyway).
 *
 * <p><b>Recording.</b> Every op of the {@code cpu} backend does its work on tensor memory in loops handed to this
 * pool ({@link #forEach}, {@link #forRange}, {@link #forEachHere} for work too small to share). So the loops a
 * forward pass issues are the whole of its computation, and {@link #record} can keep them to {@link Recording#replay
 * replay}: the same kernels on the same arrays, without the Java code around them, and without allocating.
 *
 * <p>The thread count is the machine's processor count unless {@code -Dpolaformer.threads=N} says otherwise.
 */
public final class Parallel {
    public static final String PROPERTY = "polaformer.threads";

    /** How long an idle worker keeps polling for the next job before it parks. */
    static final long SPIN_NANOS = 200_000;

    private final int threads;
    private final Worker[] workers;
    /** Held by the caller whose job the workers serve. */
    private final AtomicBoolean busy = new AtomicBoolean();
    /** Published between calls, so that the last job (and the arrays its tasks capture) can be collected. */
    private static final Job IDLE = new Job(0, i -> {});

    /** The latest job; each call publishes a new one, and workers run each job they have not seen. */
    private volatile Job job = IDLE;
    /** While positive, idle workers poll for the next job instead of parking ({@link Recording#replay}). */
    private final AtomicInteger holds = new AtomicInteger();

    public Parallel(int threads) {
        if (threads < 1) throw new IllegalArgumentException("thread count must be positive, got " + threads);
        this.threads = threads;
        this.workers = new Worker[threads - 1];
        for (int i = 0; i < workers.length; i++) {
            workers[i] = new Worker(this, i);
            workers[i].start();
        }
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
        issue(new Job(tasks, task));
    }

    /**
     * As {@link #forEach}, on the calling thread only: for work too small to share, which a {@link Recording} must
     * still see.
     */
    public void forEachHere(int tasks, IntConsumer task) {
        if (tasks <= 0) return;
        Job j = new Job(tasks, task);
        j.here = true;
        issue(j);
    }

    /** Runs {@code j}, recording it first when the calling thread records (and is not inside a recorded loop). */
    private void issue(Job j) {
        if (!recordsHere() || insideRecordedLoop) {
            run(j);
            return;
        }
        recorded.add(j);
        insideRecordedLoop = true;
        try {
            run(j);
        } finally {
            insideRecordedLoop = false;
        }
    }

    /**
     * Splits {@code [0, n)} into about {@code 4·threads} ranges of at least {@code minChunk} elements and runs
     * {@code body.run(start, end)} on each.
     */
    public void forRange(int n, int minChunk, RangeBody body) {
        if (n <= 0) return;
        int chunks = Math.max(1, Math.min(4 * threads, n / Math.max(1, minChunk)));
        int size = (n + chunks - 1) / chunks;
        int count = (n + size - 1) / size;
        forEach(count, i -> body.run(i * size, Math.min(n, (i + 1) * size)));
    }

    private void holdWorkers(int change) {
        if (holds.addAndGet(change) > 0) wakeWorkers();
    }

    private void wakeWorkers() {
        for (Worker w : workers) {
            if (w.parked) LockSupport.unpark(w);
        }
    }

    private void run(Job j) {
        if (j.here || j.tasks == 1 || workers.length == 0 || Thread.currentThread() instanceof Worker
                || !busy.compareAndSet(false, true)) {
            for (int i = 0; i < j.tasks; i++) j.body.accept(i);
            return;
        }
        try {
            job = j;
            wakeWorkers();
            j.run();
            // every task is claimed; wait for the workers still running one
            for (int spins = 0; j.running() != 0; spins++) {
                if (spins < 1 << 14) Thread.onSpinWait(); else Thread.yield();
            }
        } finally {
            job = IDLE;
            busy.set(false);
        }
        Throwable t = j.failure();
        if (t instanceof RuntimeException re) throw re;
        if (t instanceof Error er) throw er;
        if (t != null) throw new IllegalStateException(t);
    }

    // ---------------------------------------------------------------- recording

    /** The thread whose loops are being recorded, and what it has issued; null when none records. */
    private volatile Thread recorder;
    private List<Job> recorded;
    /** Read and written by the recording thread only: its loops' bodies may start loops of their own. */
    private boolean insideRecordedLoop;

    /** The working arrays of the recording's products ({@link #recordingWorkspace}). */
    private SgemmWorkspace recordingWorkspace;

    /**
     * The {@link Sgemm} working arrays for the loops of a product being recorded, in place of the calling thread's
     * own (which the thread goes on using for other work while the recording is replayed elsewhere). The recording's
     * products share it: they run one after the other, and a product's loops use it only among themselves.
     */
    SgemmWorkspace recordingWorkspace() {
        return recordingWorkspace;
    }

    /** Whether the calling thread is recording on this pool (its loops then also go into the recording). */
    public boolean recordsHere() {
        return recorder == Thread.currentThread();
    }

    /**
     * Runs {@code work} on the calling thread and records every loop it hands to this pool, in order, so that
     * {@link Recording#replay} can run them again without {@code work}'s own code: the CPU's counterpart of a
     * CUDA graph's stream capture, with the same rule. A replay repeats the loops, nothing else; so the work must
     * write tensor memory only inside loops, and a loop's body must not read state that later code changes (it
     * runs again as it was recorded: on the arrays, offsets and objects it captured). What work computes outside
     * loops (shapes, packed constant weights, tables) is computed once. Loops that a body starts (nested) belong
     * to their body and are not recorded separately; other threads' loops are not recorded.
     */
    public Recording record(Runnable work) {
        synchronized (this) {
            if (recorder == Thread.currentThread()) throw new IllegalStateException("a recording cannot nest");
            // one recorder at a time: another waits (two plans on one backend meeting a new input shape at once)
            while (recorder != null) {
                try {
                    wait();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted while waiting for another thread's recording", e);
                }
            }
            recorded = new ArrayList<>();
            recordingWorkspace = new SgemmWorkspace();
            recorder = Thread.currentThread();
        }
        try {
            work.run();
            return new Recording(this, recorded.toArray(Job[]::new));
        } finally {
            synchronized (this) {
                recorder = null;
                recorded = null;
                recordingWorkspace = null;
                notifyAll();
            }
        }
    }

    /**
     * The loops of a recorded piece of work, to run again (see {@link #record}). A replay allocates nothing: each
     * loop's task counter is reset and it runs as before. One replay at a time; the replaying thread may be
     * another than the recording one.
     */
    public static final class Recording implements dev.polaformer.numerics.Backend.Recording {
        private final Parallel parallel;
        private final Job[] loops;

        private Recording(Parallel parallel, Job[] loops) {
            this.parallel = parallel;
            this.loops = loops;
        }

        /** How many loops a replay runs. */
        public int loops() {
            return loops.length;
        }

        /**
         * Runs the loops again. The workers are woken first and kept polling until the last loop is done: waking a
         * parked worker took 0.1 ms typically and up to 4 ms on these machines (a virtual CPU the host had
         * descheduled), and a worker that parked in a gap between two loops missed the next ones; with the caller
         * idle for 30 ms before each b0 forward, one call in three ran at one thread's speed.
         */
        @Override
        public synchronized void replay() {
            parallel.holdWorkers(1);
            try {
                for (Job j : loops) {
                    j.reset();
                    parallel.run(j);
                }
            } finally {
                parallel.holdWorkers(-1);
            }
        }
    }

    @FunctionalInterface
    public interface RangeBody {
        void run(int start, int end);
    }

    /**
     * One call's tasks, claimed through {@code next}; {@code running} counts the threads inside {@link #run}. The
     * counters are fields updated through {@link VarHandle}s rather than {@code Atomic*} objects: one small object
     * per call instead of four (a forward makes a few hundred calls).
     */
    private static final class Job {
        private static final VarHandle NEXT, RUNNING, FAILURE;

        static {
            try {
                MethodHandles.Lookup l = MethodHandles.lookup();
                NEXT = l.findVarHandle(Job.class, "next", int.class);
                RUNNING = l.findVarHandle(Job.class, "running", int.class);
                FAILURE = l.findVarHandle(Job.class, "failure", Throwable.class);
            } catch (ReflectiveOperationException e) {
                throw new ExceptionInInitializerError(e);
            }
        }

        final int tasks;
        final IntConsumer body;
        /** Runs on the calling thread only ({@link #forEachHere}). */
        boolean here;
        @SuppressWarnings("unused") private volatile int next, running;
        private volatile Throwable failure;

        Job(int tasks, IntConsumer body) {
            this.tasks = tasks;
            this.body = body;
        }

        /**
         * Makes a recorded job claimable again. A worker still holding it from an earlier run can only claim tasks of
         * this run (the caller waited for {@code running} to reach 0 before), and they are the same tasks of the
         * same body, so it simply helps.
         */
        void reset() {
            failure = null;
            next = 0;
        }

        int running() {
            return running;
        }

        Throwable failure() {
            return failure;
        }

        /**
         * Claims and runs tasks until none is left. {@code running} goes up before the first claim, so a caller
         * that finds every task claimed and {@code running} at 0 knows every task has finished.
         */
        void run() {
            RUNNING.getAndAdd(this, 1);
            try {
                for (int i; failure == null && (i = (int) NEXT.getAndAdd(this, 1)) < tasks; ) body.accept(i);
            } catch (Throwable t) {
                // kept as thrown, so that the caller sees the worker's own exception and message
                if (!FAILURE.compareAndSet(this, null, t)) failure.addSuppressed(t);
                next = tasks;
            } finally {
                RUNNING.getAndAdd(this, -1);
            }
        }
    }

    private static final class Worker extends Thread {
        private final Parallel owner;
        /** Set while parked (or about to park), so that the caller knows to unpark it. */
        volatile boolean parked;

        Worker(Parallel owner, int index) {
            super("polaformer-cpu-" + index);
            this.owner = owner;
            setDaemon(true);
        }

        @Override
        public void run() {
            Job seen = null;
            long idleSince = System.nanoTime();
            while (true) {
                Job j = owner.job;
                if (j != seen) {
                    seen = j;
                    j.run();
                    idleSince = System.nanoTime();
                } else if (owner.holds.get() > 0 || System.nanoTime() - idleSince < SPIN_NANOS) {
                    Thread.onSpinWait();
                } else {
                    parked = true;
                    if (owner.job == seen) LockSupport.park(this);
                    parked = false;
                    idleSince = System.nanoTime();
                }
            }
        }
    }
}
