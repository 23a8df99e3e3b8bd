package dev.polaformer.model;

import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.Tensor;

/**
 * A float state entry: a learnable parameter (with a gradient, allocated on first use and accumulated by
 * the backward passes) or a buffer such as BatchNorm's running statistics or RoPE's angles (no gradient).
 * The tensor is owned by the parameter; values are replaced in place, so views taken of it stay valid.
 */
public final class Parameter implements StateEntry {
    private final Backend backend;
    private final Tensor value;
    private final boolean trainable;
    private Tensor grad;
    private volatile int version;

    Parameter(Backend backend, boolean trainable, int... shape) {
        this.backend = backend;
        this.value = backend.zeros(shape);
        this.trainable = trainable;
    }

    public Tensor value() {
        return value;
    }

    public boolean trainable() {
        return trainable;
    }

    @Override
    public int[] shape() {
        return value.shape();
    }

    /** The gradient, zero-filled on first use; only for trainable parameters. */
    public synchronized Tensor grad() {
        if (!trainable) throw new IllegalStateException("a buffer has no gradient");
        if (grad == null) grad = backend.zeros(value.shape());
        return grad;
    }

    /** The gradient if one was ever requested, else null. */
    public synchronized Tensor gradIfPresent() {
        return grad;
    }

    public synchronized void zeroGrad() {
        if (grad != null) backend.fill(grad, 0f);
    }

    /** Replaces the values with {@code data} (row-major, the official layout). */
    public void set(float[] data) {
        try (Tensor t = backend.fromArray(data, value.shape())) {
            backend.copy(t, value);
        }
        version++;
    }

    /** Counts {@link #set} calls, so that caches derived from a buffer (RoPE tables) know when to rebuild. */
    public int version() {
        return version;
    }

    public float[] toArray() {
        return value.toArray();
    }

    void release() {
        value.close();
        if (grad != null) grad.close();
    }
}
