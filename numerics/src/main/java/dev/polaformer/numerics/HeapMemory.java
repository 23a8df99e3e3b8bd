package dev.polaformer.numerics;

import java.util.ArrayDeque;
import java.util.Arrays;

/**
 * Tensor memory in Java arrays, shared by the array-based backends ({@code reference}, {@code cpu}).
 *
 * <p>Released arrays go back to a pool keyed by exact length: a model runs the same shapes step after step,
 * so after the first step every allocation is served from the pool and the garbage collector sees nothing.
 * The pool keeps at most {@code polaformer.pool.maxBytes} of idle arrays; by default half the maximum heap, and at
 * least 2 GiB where the heap has room for that (three quarters of a smaller heap). A training step releases all its activations at once, so a cap below its working set drops the
 * excess every step, to be allocated again (and collected) in the next: b0 at batch 32 and 224² holds about
 * 3 GiB, and with a 2 GiB cap its step spent 12% of its time in allocation and collection (6 GiB heap).
 */
public final class HeapMemory {
    private final String backendId;
    private final ArraysByLength<float[]> free = new ArraysByLength<>();
    /** One method reference for every storage (a new one per tensor was allocation on the inference path). */
    private final java.util.function.Consumer<float[]> giveBack = this::give;
    private final long maxIdleFloats;
    private long idleFloats;
    /** Arrays the pool could not serve and allocated; see {@link #arraysAllocated}. */
    private long allocated;
    /** The thread whose released arrays stay out of the pool ({@link #withholdReleasesOf}); null for none. */
    private Thread withholding;

    public HeapMemory(String backendId) {
        this.backendId = backendId;
        long heap = Runtime.getRuntime().maxMemory();
        // half the heap, and up to 2 GiB but never more than three quarters of a small heap (an inference JVM
        // with -Xmx1g: idle arrays beyond the heap itself would only force collections)
        long byDefault = Math.max(heap / 2, Math.min(2L << 30, heap / 4 * 3));
        this.maxIdleFloats = Long.getLong("polaformer.pool.maxBytes", byDefault) / Float.BYTES;
    }

    /** The array behind {@code t}; fails, naming the op, if {@code t} is not on this backend or was released. */
    public float[] array(String op, Tensor t) {
        Shapes.requireNonNull(op, "tensor", t);
        if (!(t.storage() instanceof HeapStorage h) || !h.backendId().equals(backendId)) {
            throw new IllegalArgumentException(op + ": " + t + " lives on '" + t.backendId() + "', not on '" + backendId
                    + "'; copy it across first");
        }
        return h.array();
    }

    public Tensor zeros(int... shape) {
        Tensor t = empty(shape);
        Arrays.fill(((HeapStorage) t.storage()).array(), 0f);
        return t;
    }

    public Tensor empty(int... shape) {
        int n = (int) Shapes.checkedSize(shape);
        float[] a = take(n);
        return Tensor.owning(new HeapStorage(backendId, a, giveBack), shape);
    }

    /** A constant copy of {@code values} (see {@link Backend#constant}); contiguous, its own storage. */
    public Tensor constant(Tensor values) {
        float[] a = new float[values.size()];
        int[] shape = values.shape();
        Tensor staging = Tensor.owning(new HeapStorage(backendId, a, null), shape);
        copy(values, staging);
        return Tensor.owning(new HeapStorage(backendId, a, null, true), shape);
    }

    public Tensor fromArray(float[] values, int... shape) {
        if (Shapes.checkedSize(shape) != values.length) {
            throw new IllegalArgumentException("fromArray: " + values.length + " values do not fill shape " + Arrays.toString(shape));
        }
        Tensor t = empty(shape);
        System.arraycopy(values, 0, ((HeapStorage) t.storage()).array(), 0, values.length);
        return t;
    }

    private synchronized float[] take(int n) {
        ArrayDeque<float[]> q = free.get(n);
        float[] a = q == null ? null : q.pollFirst();
        if (a == null) {
            allocated++;
            return new float[n];
        }
        idleFloats -= n;
        return a;
    }

    private synchronized void give(float[] a) {
        if (idleFloats + a.length > maxIdleFloats || Thread.currentThread() == withholding) return;
        free.getOrCreate(a.length).addFirst(a);
        idleFloats += a.length;
    }

    /**
     * While {@code thread} records work to replay ({@link Backend#record}), the arrays of the tensors it releases
     * are still read by the recorded kernels: they are not pooled (where another tensor would get them) but left to
     * the recording, and collected with it. Null ends it.
     */
    public synchronized void withholdReleasesOf(Thread thread) {
        withholding = thread;
    }

    /** How many arrays this memory has allocated so far (pool misses): constant in a steady state. */
    public synchronized long arraysAllocated() {
        return allocated;
    }

    public synchronized void trim() {
        free.clear();
        idleFloats = 0;
    }

    // ---------------------------------------------------------------- strided helpers

    /**
     * The storage offsets of every element of {@code t}, in row-major order of its shape. Used where clarity
     * beats speed (the reference backend, strided copies of small tensors).
     */
    public static int[] offsets(Tensor t) {
        int[] shape = t.shape(), strides = t.strides();
        int n = t.size();
        int[] out = new int[n];
        int r = shape.length;
        int[] idx = new int[r];
        int off = t.offset();
        for (int i = 0; i < n; i++) {
            out[i] = off;
            for (int k = r - 1; k >= 0; k--) {
                off += strides[k];
                if (++idx[k] < shape[k]) break;
                off -= strides[k] * shape[k];
                idx[k] = 0;
            }
        }
        return out;
    }

    /** {@code dst = src} for any strides, row by row along the innermost dimension. */
    public void copy(Tensor src, Tensor dst) {
        Shapes.requireSameShape("copy", "src", src, "dst", dst);
        float[] s = array("copy", src), d = array("copy", dst);
        if (src.isContiguous() && dst.isContiguous()) {
            System.arraycopy(s, src.offset(), d, dst.offset(), src.size());
            return;
        }
        int r = src.rank();
        if (r == 0) {
            d[dst.offset()] = s[src.offset()];
            return;
        }
        int inner = src.dim(-1), ss = src.stride(-1), ds = dst.stride(-1);
        if (inner == 0) return;
        int rows = src.size() / inner;
        if (r == 3 && ss == 1 && ds == 1) {
            // (B, N, C) views such as column slices of a fused projection: two loops, no offset tables
            int n = src.dim(1);
            for (int bi = 0; bi < src.dim(0); bi++) {
                for (int t = 0; t < n; t++) {
                    System.arraycopy(s, src.offset() + bi * src.stride(0) + t * src.stride(1),
                            d, dst.offset() + bi * dst.stride(0) + t * dst.stride(1), inner);
                }
            }
            return;
        }
        int[] so = rowOffsets(src, rows), dOff = rowOffsets(dst, rows);
        for (int row = 0; row < rows; row++) {
            int a = so[row], b = dOff[row];
            if (ss == 1 && ds == 1) {
                System.arraycopy(s, a, d, b, inner);
            } else {
                for (int j = 0; j < inner; j++) d[b + j * ds] = s[a + j * ss];
            }
        }
    }

    public void fill(Tensor dst, float value) {
        float[] d = array("fill", dst);
        if (dst.isContiguous()) {
            Arrays.fill(d, dst.offset(), dst.offset() + dst.size(), value);
        } else {
            for (int o : offsets(dst)) d[o] = value;
        }
    }

    /** Offsets of the first element of each innermost row. */
    private static int[] rowOffsets(Tensor t, int rows) {
        int r = t.rank();
        int[] shape = t.shape(), strides = t.strides();
        int[] out = new int[rows];
        int[] idx = new int[r - 1];
        int off = t.offset();
        for (int i = 0; i < rows; i++) {
            out[i] = off;
            for (int k = r - 2; k >= 0; k--) {
                off += strides[k];
                if (++idx[k] < shape[k]) break;
                off -= strides[k] * shape[k];
                idx[k] = 0;
            }
        }
        return out;
    }
}
