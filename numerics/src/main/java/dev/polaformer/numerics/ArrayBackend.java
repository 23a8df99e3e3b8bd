package dev.polaformer.numerics;

/** What the backends that keep tensors in Java arrays ({@code reference}, {@code cpu}) share: their memory. */
public abstract class ArrayBackend implements Backend {
    protected final HeapMemory memory;

    protected ArrayBackend(String id) {
        this.memory = new HeapMemory(id);
    }

    @Override
    public Tensor zeros(int... shape) {
        return memory.zeros(shape);
    }

    @Override
    public Tensor empty(int... shape) {
        return memory.empty(shape);
    }

    @Override
    public Tensor fromArray(float[] values, int... shape) {
        return memory.fromArray(values, shape);
    }

    @Override
    public void copy(Tensor src, Tensor dst) {
        memory.copy(src, dst);
    }

    @Override
    public void fill(Tensor dst, float value) {
        memory.fill(dst, value);
    }

    /** How many tensor arrays this backend has had to allocate (not served from its pool) so far. */
    public final long arraysAllocated() {
        return memory.arraysAllocated();
    }

    @Override
    public Tensor constant(Tensor values) {
        return memory.constant(values);
    }

    @Override
    public void trim() {
        memory.trim();
    }
}
