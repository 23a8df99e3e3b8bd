package dev.polaformer.model;

import dev.polaformer.numerics.Backend;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;

/**
 * A node of the model tree with its own state entries and named children, mirroring PyTorch's
 * {@code nn.Module} so that {@link #stateDict()} yields exactly the official keys in the official order:
 * a module's own parameters, then its own buffers, then each child's entries under {@code child.}.
 */
public abstract class Module implements AutoCloseable {
    protected final Backend backend;
    private final Map<String, Parameter> parameters = new LinkedHashMap<>();
    private final Map<String, StateEntry> buffers = new LinkedHashMap<>();
    private final Map<String, Module> children = new LinkedHashMap<>();

    protected Module(Backend backend) {
        this.backend = backend;
    }

    public Backend backend() {
        return backend;
    }

    protected final Parameter parameter(String name, int... shape) {
        Parameter p = new Parameter(backend, true, shape);
        parameters.put(name, p);
        return p;
    }

    protected final Parameter buffer(String name, int... shape) {
        Parameter p = new Parameter(backend, false, shape);
        buffers.put(name, p);
        return p;
    }

    protected final Counter counter(String name) {
        Counter c = new Counter();
        buffers.put(name, c);
        return c;
    }

    protected final <M extends Module> M child(String name, M module) {
        if (module != null) children.put(name, module);
        return module;
    }

    /** Every state entry under its full official name, in state-dict order. */
    public final Map<String, StateEntry> stateDict() {
        Map<String, StateEntry> out = new LinkedHashMap<>();
        visit("", out::put);
        return out;
    }

    /** The trainable parameters under their full names, in state-dict order. */
    public final Map<String, Parameter> namedParameters() {
        Map<String, Parameter> out = new LinkedHashMap<>();
        visit("", (n, e) -> {
            if (e instanceof Parameter p && p.trainable()) out.put(n, p);
        });
        return out;
    }

    private void visit(String prefix, BiConsumer<String, StateEntry> sink) {
        parameters.forEach((n, p) -> sink.accept(prefix + n, p));
        buffers.forEach((n, b) -> sink.accept(prefix + n, b));
        children.forEach((n, c) -> c.visit(prefix + n + ".", sink));
    }

    public final List<Module> children() {
        return new ArrayList<>(children.values());
    }

    public final void zeroGrad() {
        for (Parameter p : namedParameters().values()) p.zeroGrad();
    }

    /** Releases every tensor the module tree owns. */
    @Override
    public void close() {
        visit("", (n, e) -> {
            if (e instanceof Parameter p) p.release();
        });
    }
}
