package dev.polaformer.numerics;

/**
 * A block of float32 memory owned by one backend. Tensors are views over a storage.
 *
 * <p>Ownership is explicit: whoever allocated the storage releases it (a tensor's {@link Tensor#close()}
 * does this for the tensor that owns it). After release every access fails with an
 * {@link IllegalStateException}; the memory itself may be reused by the backend's pool, so a stale view
 * can never observe another tensor's data.
 */
public abstract class Storage {
    private final int size;
    private volatile boolean released;

    protected Storage(int size) {
        if (size < 0) throw new IllegalArgumentException("negative storage size " + size);
        this.size = size;
    }

    /** Number of float32 elements. */
    public final int size() {
        return size;
    }

    /** The id of the backend that owns this memory ({@code "cpu"}, {@code "cuda"}, ...). */
    public abstract String backendId();

    public final boolean isReleased() {
        return released;
    }

    /** Releases the memory; later releases are no-ops. */
    public final void release() {
        if (released) return;
        released = true;
        free();
    }

    /** Returns the memory to its owner. Called once. */
    protected abstract void free();

    /** Copies {@code length} elements starting at {@code offset} into {@code dst}. */
    public abstract void read(int offset, float[] dst, int dstOffset, int length);

    /** Copies {@code length} elements from {@code src} into this storage at {@code offset}. */
    public abstract void write(int offset, float[] src, int srcOffset, int length);

    /** Throws if the memory has been released; {@code what} names the tensor for the message. */
    protected final void checkLive(Object what) {
        if (released) throw new IllegalStateException(what + " used after its memory was released");
    }
}
