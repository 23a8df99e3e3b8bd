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

    /**
     * @param onFree receives the array when the storage is released (a pool), or {@code null} to leave it
     *               to the garbage collector
     */
    public HeapStorage(String backendId, float[] array, Consumer<float[]> onFree) {
        super(array.length);
        this.backendId = backendId;
        this.array = array;
        this.onFree = onFree;
    }

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
        if (onFree != null && a != null) onFree.accept(a);
    }

    @Override
    public void read(int offset, float[] dst, int dstOffset, int length) {
        System.arraycopy(array(), offset, dst, dstOffset, length);
    }

    @Override
    public void write(int offset, float[] src, int srcOffset, int length) {
        System.arraycopy(src, srcOffset, array(), offset, length);
    }
}
