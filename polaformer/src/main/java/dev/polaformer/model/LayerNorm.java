package dev.polaformer.model;

import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.Tensor;

/** LayerNorm over the last (channel) dimension; with channels-last feature maps this is the official LayerNorm2d. */
public final class LayerNorm extends Module {
    public final int channels;
    public final float eps;
    public final Parameter weight, bias;

    public LayerNorm(Backend backend, int channels, float eps) {
        super(backend);
        this.channels = channels;
        this.eps = eps;
        this.weight = parameter("weight", channels);
        this.bias = parameter("bias", channels);
    }

    private record Saved(Tensor x, Tensor mean, Tensor rstd) {}

    public Tensor forward(Tensor x, Pass pass) {
        Tensor y = pass.empty(x.shape());
        int rows = x.size() / channels;
        Tensor mean = pass.recording() ? pass.empty(rows) : null, rstd = pass.recording() ? pass.empty(rows) : null;
        backend.layerNorm(x, weight.value(), bias.value(), eps, y, mean, rstd);
        if (pass.recording()) pass.save(new Saved(x, mean, rstd));
        return y;
    }

    public Tensor backward(Tensor dy, Pass pass) {
        Saved s = pass.restore(Saved.class);
        Tensor dx = pass.empty(s.x.shape());
        backend.layerNormBackward(s.x, weight.value(), s.mean, s.rstd, dy, dx, weight.grad(), bias.grad());
        return dx;
    }
}
