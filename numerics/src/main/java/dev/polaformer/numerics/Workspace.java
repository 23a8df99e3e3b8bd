package dev.polaformer.numerics;

import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;

/**
 * Owns the intermediate tensors of one unit of work (a forward pass, a training step) and releases them
 * all on {@link #close()}. Tensors that must outlive the work are allocated from the backend directly.
 * A tensor may be closed early; the workspace skips it. Not thread-safe: one workspace per thread of work.
 */
public final class Workspace implements AutoCloseable {
    private final Backend backend;
    private final List<Tensor> owned = new ArrayList<>();
    private final Set<Storage> storages = Collections.newSetFromMap(new IdentityHashMap<>());

    public Workspace(Backend backend) {
        this.backend = backend;
    }

    public Backend backend() {
        return backend;
    }

    public Tensor zeros(int... shape) {
        return keep(backend.zeros(shape));
    }

    public Tensor empty(int... shape) {
        return keep(backend.empty(shape));
    }

    public Tensor fromArray(float[] values, int... shape) {
        return keep(backend.fromArray(values, shape));
    }

    /** Takes ownership of {@code t}; returns it. */
    public Tensor keep(Tensor t) {
        owned.add(t);
        storages.add(t.storageUnchecked());
        return t;
    }

    /**
     * Releases the memory behind {@code t} (a tensor from this workspace or any view of one) before the
     * workspace closes; a tensor this workspace does not own is left alone.
     */
    public void release(Tensor t) {
        Storage s = t.storageUnchecked();
        if (storages.remove(s)) s.release();
    }

    @Override
    public void close() {
        for (int i = owned.size() - 1; i >= 0; i--) owned.get(i).close();
        owned.clear();
        storages.clear();
    }
}
