package dev.polaformer.model;

import dev.polaformer.numerics.Backend;

import java.util.ArrayList;
import java.util.List;

/** Children named {@code 0, 1, 2, ...}, as PyTorch's {@code nn.ModuleList} names them in the state dict. */
public final class ModuleList<M extends Module> extends Module {
    private final List<M> items = new ArrayList<>();

    public ModuleList(Backend backend) {
        super(backend);
    }

    public M add(M m) {
        items.add(child(String.valueOf(items.size()), m));
        return m;
    }

    public M get(int i) {
        return items.get(i);
    }

    public int size() {
        return items.size();
    }
}
