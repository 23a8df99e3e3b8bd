package dev.polaformer.model;

import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.Tensor;

/** Dense k×k convolution with bias on channels-last maps; weight in PyTorch layout {@code (out, in, k, k)}. */
public final class Conv2d extends Module {
    public final int in, out, kernel, stride, padding;
    public final Parameter weight, bias;
    private final boolean inputGradient;

    /** @param inputGradient false for a layer that reads the network input, whose gradient nobody needs */
    public Conv2d(Backend backend, int in, int out, int kernel, int stride, int padding, boolean inputGradient) {
        super(backend);
        this.in = in;
        this.out = out;
        this.kernel = kernel;
        this.stride = stride;
        this.padding = padding;
        this.inputGradient = inputGradient;
        this.weight = parameter("weight", out, in, kernel, kernel);
        this.bias = parameter("bias", out);
    }

    public int outSize(int size) {
        return (size + 2 * padding - kernel) / stride + 1;
    }

    private record Saved(Tensor x) {}

    /** {@code x (B, H, W, in)} → {@code (B, Ho, Wo, out)}. */
    public Tensor forward(Tensor x, Pass pass) {
        Tensor y = pass.empty(x.dim(0), outSize(x.dim(1)), outSize(x.dim(2)), out);
        backend.conv2d(x, pass.value(weight), pass.value(bias), stride, padding, y);
        if (pass.recording()) pass.save(new Saved(x));
        return y;
    }

    /** Returns {@code dx}, or null when this layer was built without an input gradient. */
    public Tensor backward(Tensor dy, Pass pass) {
        Saved s = pass.restore(Saved.class);
        Tensor dx = inputGradient ? pass.empty(s.x.shape()) : null;
        backend.conv2dBackward(s.x, weight.value(), dy, stride, padding, dx, weight.grad(), bias.grad());
        return dx;
    }
}
