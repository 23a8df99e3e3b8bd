package dev.polaformer.numerics;

import java.util.function.Consumer;

/**
 * Storage in a Java {@code float[]}: used by the {@code reference} and {@code cpu} backends, whose kernels
 * work on arrays (the Vector API loads from arrays without bounds-check overhead in hot loops).
 */
public final class HeapStorage extends Storage {
    private final String backendId;
    private float[] array;
    private final Consumer<float[]> onFree;
    private final boolean constant;
    /** What a kernel derived from a constant's values (a packed layout), built once; see {@link #derived}. */
    private volatile Derived derived;

    /**
     * @param onFree receives the array when the storage is released (a pool), or {@code null} to leave it
     *               to the garbage collector
     */
    public HeapStorage(String backendId, float[] array, Consumer<float[]> onFree) {
        this(backendId, array, onFree, false);
    }

    /** @param constant the values will never change ({@link Backend#constant}): kernels may cache derived layouts */
    public HeapStorage(String backendId, float[] array, Consumer<float[]> onFree, boolean constant) {
        super(array.length);
        this.backendId = backendId;
        this.array = array;
        this.onFree = onFree;
        this.constant = constant;
    }

    /** Whether the values never change, so that a layout derived from them stays valid. */
    public boolean isConstant() {
        return constant;
    }

    /**
     * The layout a kernel derived from a constant storage's values and kept under {@code key} (which says what the
     * layout is, e.g. which operand of which op), or null. One layout per storage: a weight is read by one kind
     * of op.
     */
    public Object derived(Object key) {
        Derived d = derived;
        return d != null && d.key.equals(key) ? d.value : null;
    }

    /** Keeps {@code value}, derived from these constant values, under {@code key}; see {@link #derived(Object)}. */
    public void keepDerived(Object key, Object value) {
        if (!constant) throw new IllegalStateException("only a constant storage keeps derived layouts");
        derived = new Derived(key, value);
    }

    private record Derived(Object key, Object value) {}

    @Override
    public String backendId() {
        return backendId;
    }

    /** The backing array; fails if the storage was released. */
    public float[] array() {
        float[] a = array;
        if (a == null) checkLive("storage of " + size() + " floats on " + backendId);
        return a;
    }

    @Override
    protected void free() {
        float[] a = array;
        array = null;
        derived = null;
        if (onFree != null && a != null) onFree.accept(a);
    }

    @Override
    public void read(int offset, float[] dst, int dstOffset, int length) {
        System.arraycopy(array(), offset, dst, dstOffset, length);
    }

    @Override
    public void write(int offset, float[] src, int srcOffset, int length) {
        if (constant) throw new IllegalStateException("a constant tensor's values cannot change");
        System.arraycopy(src, srcOffset, array(), offset, length);
    }
}
