package dev.polaformer.model;

import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.Tensor;

/** {@code y = x·Wᵀ + b} over the last dimension of token tensors; {@code weight (out, in)}, {@code bias (out)}. */
public final class Linear extends Module {
    public final int in, out;
    public final Parameter weight, bias;

    public Linear(Backend backend, int in, int out) {
        super(backend);
        this.in = in;
        this.out = out;
        this.weight = parameter("weight", out, in);
        this.bias = parameter("bias", out);
    }

    private record Saved(Tensor x) {}

    /** {@code x (..., in)}, contiguous → {@code (..., out)}. */
    public Tensor forward(Tensor x, Pass pass) {
        Tensor rows = x.reshape(-1, in);
        Tensor y = pass.empty(rows.dim(0), out);
        backend.linear(rows, pass.value(weight), pass.value(bias), y);
        if (pass.recording()) pass.save(new Saved(rows));
        int[] shape = x.shape();
        shape[shape.length - 1] = out;
        return y.reshape(shape);
    }

    /**
     * {@code gelu(x·Wᵀ + b)} in one backend call ({@link Backend#linearGelu}): for evaluation, where nothing is
     * kept for a backward, so the pre-activation need not be stored.
     */
    public Tensor forwardGelu(Tensor x, Pass pass) {
        if (pass.recording()) throw new IllegalStateException("forwardGelu keeps nothing for a backward");
        Tensor rows = x.reshape(-1, in);
        Tensor y = pass.empty(rows.dim(0), out);
        backend.linearGelu(rows, pass.value(weight), pass.value(bias), y);
        int[] shape = x.shape();
        shape[shape.length - 1] = out;
        return y.reshape(shape);
    }

    /** Returns {@code dx} and accumulates the weight and bias gradients. */
    public Tensor backward(Tensor dy, Pass pass) {
        Saved s = pass.restore(Saved.class);
        Tensor dRows = dy.reshape(-1, out);
        Tensor dx = pass.empty(dRows.dim(0), in);
        backend.matmul(dRows, false, weight.value(), false, dx, 1f, 0f);
        backend.matmul(dRows, true, s.x, false, weight.grad(), 1f, 1f);
        backend.sumTo(dRows, bias.grad(), true);
        int[] shape = dy.shape();
        shape[shape.length - 1] = in;
        return dx.reshape(shape);
    }
}
