package dev.polaformer.model;

/** An integer state entry ({@code num_batches_tracked}), stored as int64 with shape {@code []}. */
public final class Counter implements StateEntry {
    private long value;

    public synchronized long get() {
        return value;
    }

    public synchronized void set(long v) {
        value = v;
    }

    public synchronized void increment() {
        value++;
    }

    @Override
    public int[] shape() {
        return new int[0];
    }
}
