package dev.polaformer.model;

import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.Tensor;
import dev.polaformer.numerics.Workspace;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.SplittableRandom;

/**
 * One forward pass, and in training its backward: owns the intermediate tensors (released on
 * {@link #close()}) and, when gradients are wanted, the tape on which each module's forward saves what its
 * backward needs. Backwards run in exactly the reverse order of the forwards, so the tape is a stack and each
 * module pops the record it pushed. A pass is used by one thread; a model serves concurrent callers by
 * giving each its own pass.
 */
public final class Pass implements AutoCloseable {
    private final Backend backend;
    private final Workspace workspace;
    private final boolean training;
    private final Deque<Object> tape;
    private final SplittableRandom random;
    /** Evaluation with prepared weights ({@link InferencePlan}); null otherwise. */
    private final InferencePlan plan;
    /** The plan's memory for this input shape; null for an unplanned pass. */
    private final InferencePlan.Memory memory;

    private Pass(Backend backend, boolean training, boolean gradients, long seed, InferencePlan plan,
                 InferencePlan.Memory memory) {
        this.backend = backend;
        this.workspace = new Workspace(backend);
        this.training = training;
        this.tape = gradients ? new ArrayDeque<>() : null;
        this.random = new SplittableRandom(seed);
        this.plan = plan;
        this.memory = memory;
    }

    /** Evaluation mode, no gradients. */
    public static Pass inference(Backend backend) {
        return new Pass(backend, false, false, 0, null, null);
    }

    /**
     * Evaluation with {@code plan}'s prepared weights and, when {@code memory} is given, its planned tensors; made
     * by {@link InferencePlan#pass}, which reuses it for every pass of one input shape.
     */
    static Pass inference(InferencePlan plan, InferencePlan.Memory memory) {
        return new Pass(plan.model().backend(), false, false, 0, plan, memory);
    }

    /**
     * A pass that records for a backward. {@code training} selects train-mode behaviour (BatchNorm batch
     * statistics, stochastic depth drawn from {@code seed}); a module test may record in eval mode.
     */
    public static Pass withGradients(Backend backend, boolean training, long seed) {
        return new Pass(backend, training, true, seed, null, null);
    }

    /** The plan's memory this pass takes its tensors from; null for an unplanned pass. */
    InferencePlan.Memory plannedMemory() {
        return memory;
    }

    public Backend backend() {
        return backend;
    }

    public boolean training() {
        return training;
    }

    public boolean recording() {
        return tape != null;
    }

    public SplittableRandom random() {
        return random;
    }

    /** The values a forward should read for {@code p}: the inference plan's prepared copy, if any. */
    public Tensor value(Parameter p) {
        return plan != null ? plan.value(p) : p.value();
    }

    /**
     * Whether the inference plan's weights took over {@code m}'s work: a BatchNorm folded into the convolution
     * before it, a depthwise convolution whose weight includes the residual around it, a block whose layer scales
     * are in its branches' last linears.
     */
    boolean folded(Module m) {
        return plan != null && plan.isFolded(m);
    }

    /** A new intermediate tensor with unspecified contents, released with the pass. */
    public Tensor empty(int... shape) {
        if (memory != null) {
            Tensor t = memory.take(shape);
            if (t != null) return t;
        }
        return workspace.empty(shape);
    }

    public Tensor zeros(int... shape) {
        Tensor t = empty(shape);
        backend.fill(t, 0f);
        return t;
    }

    /**
     * Releases an intermediate (or the tensor a view was taken of) early when the pass does not record, so its
     * memory can serve the next layer; recording passes keep everything until they close.
     */
    public void done(Tensor t) {
        if (tape != null) return;
        if (memory != null && memory.owns(t)) {
            memory.release(t);
        } else {
            workspace.release(t);
        }
    }

    /** Saves a module's record for its backward; a no-op when not recording. */
    public void save(Object record) {
        if (tape != null) tape.push(record);
    }

    /** Pops the record the matching forward saved. */
    public <T> T restore(Class<T> type) {
        if (tape == null) throw new IllegalStateException("backward on a pass that did not record (use Pass.withGradients)");
        Object o = tape.poll();
        if (!type.isInstance(o)) {
            throw new IllegalStateException("backward out of order: expected a " + type.getSimpleName()
                    + " record, found " + (o == null ? "an empty tape" : o.getClass().getSimpleName()));
        }
        return type.cast(o);
    }

    @Override
    public void close() {
        workspace.close();
        if (tape != null) tape.clear();
        if (plan != null) plan.finished(memory);
    }
}
