package dev.polaformer.model;

import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.Tensor;

/** Depthwise k×k convolution, stride 1, padding k/2 ({@code groups = C}); weight {@code (C, 1, k, k)}. */
public final class DepthwiseConv2d extends Module {
    public final int channels, kernel;
    public final Parameter weight, bias;

    public DepthwiseConv2d(Backend backend, int channels, int kernel) {
        super(backend);
        this.channels = channels;
        this.kernel = kernel;
        this.weight = parameter("weight", channels, 1, kernel, kernel);
        this.bias = parameter("bias", channels);
    }

    private record Saved(Tensor x) {}

    /**
     * {@code x (B, H, W, C)} → same shape. Under an inference plan that {@link Pass#folded folded} the residual
     * into the weight, the result is already {@code x + conv(x)}.
     */
    public Tensor forward(Tensor x, Pass pass) {
        Tensor y = pass.empty(x.shape());
        backend.depthwiseConv2d(x, pass.value(weight), pass.value(bias), kernel / 2, y);
        if (pass.recording()) pass.save(new Saved(x));
        return y;
    }

    public Tensor backward(Tensor dy, Pass pass) {
        Saved s = pass.restore(Saved.class);
        Tensor dx = pass.empty(s.x.shape());
        backend.depthwiseConv2dBackward(s.x, weight.value(), dy, kernel / 2, dx, weight.grad(), bias.grad());
        return dx;
    }
}
