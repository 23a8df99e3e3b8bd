package dev.polaformer.numerics.cpu;

import dev.polaformer.numerics.ArraysByLength;

import java.util.ArrayDeque;

/**
 * Small working arrays for the kernels, so that a training step allocates nothing after its first run.
 *
 * <ul>
 *   <li>{@link #floats}/{@link #doubles}/{@link #ints}: per-thread arrays, one per numbered slot, grown on demand and never
 *       shrunk. A kernel uses them inside one task on one thread (gather buffers, float accumulation blocks);
 *       the slot numbers keep two uses within one task apart. Their contents are garbage on entry.</li>
 *   <li>{@link #takeDoubles}/{@link #give}: zeroed double arrays that outlive a task, for the per-task partial
 *       sums of a parallel reduction that the caller combines afterwards. Pooled by exact length, as
 *       {@link dev.polaformer.numerics.HeapMemory} pools tensors, at most {@link #MAX_IDLE_DOUBLES} idle.</li>
 * </ul>
 */
final class Scratch {
    private Scratch() {}

    static final int SLOTS = 4;
    private static final long MAX_IDLE_DOUBLES = 32L << 20;

    private static final ThreadLocal<float[][]> FLOATS = ThreadLocal.withInitial(() -> new float[SLOTS][0]);
    private static final ThreadLocal<int[][]> INTS = ThreadLocal.withInitial(() -> new int[SLOTS][0]);
    private static final ThreadLocal<double[][]> DOUBLES = ThreadLocal.withInitial(() -> new double[SLOTS][0]);

    private static final ArraysByLength<double[]> POOL = new ArraysByLength<>();
    private static long idle;
    /** Threads recording work to replay: the arrays they give back are still used by the recording. */
    private static final java.util.Set<Thread> WITHHOLDING = java.util.concurrent.ConcurrentHashMap.newKeySet();

    /** This thread's float array number {@code slot}, at least {@code n} long; contents unspecified. */
    static float[] floats(int slot, int n) {
        float[][] s = FLOATS.get();
        if (s[slot].length < n) s[slot] = new float[Math.max(n, 2 * s[slot].length)];
        return s[slot];
    }

    /** This thread's double array number {@code slot}, at least {@code n} long; contents unspecified. */
    static double[] doubles(int slot, int n) {
        double[][] s = DOUBLES.get();
        if (s[slot].length < n) s[slot] = new double[Math.max(n, 2 * s[slot].length)];
        return s[slot];
    }

    /** See {@link dev.polaformer.numerics.HeapMemory#withholdReleasesOf}: the same for these arrays. */
    static void withholdReleasesOf(Thread thread, boolean withhold) {
        if (withhold) WITHHOLDING.add(thread); else WITHHOLDING.remove(thread);
    }

    /** This thread's int array number {@code slot}, at least {@code n} long; contents unspecified. */
    static int[] ints(int slot, int n) {
        int[][] s = INTS.get();
        if (s[slot].length < n) s[slot] = new int[Math.max(n, 2 * s[slot].length)];
        return s[slot];
    }

    /** A zero-filled array of exactly {@code n} doubles; hand it back with {@link #give}. */
    static double[] takeDoubles(int n) {
        double[] a;
        synchronized (POOL) {
            ArrayDeque<double[]> q = POOL.get(n);
            a = q == null ? null : q.pollFirst();
            if (a != null) idle -= n;
        }
        if (a == null) return new double[n];
        java.util.Arrays.fill(a, 0);
        return a;
    }

    static void give(double[] a) {
        if (!WITHHOLDING.isEmpty() && WITHHOLDING.contains(Thread.currentThread())) return;
        synchronized (POOL) {
            if (idle + a.length > MAX_IDLE_DOUBLES) return;
            POOL.getOrCreate(a.length).addFirst(a);
            idle += a.length;
        }
    }
}
