package dev.polaformer.model;

import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.Tensor;

/**
 * The official {@code LayerNorm2d}: a {@link LayerNorm} named {@code norm} applied over the channels of every
 * pixel, eps 1e-6. Kept as its own module only so the state-dict keys read {@code norm1.norm.weight}.
 */
public final class LayerNorm2d extends Module {
    public final LayerNorm norm;

    public LayerNorm2d(Backend backend, int channels) {
        super(backend);
        this.norm = child("norm", new LayerNorm(backend, channels, 1e-6f));
    }

    public Tensor forward(Tensor x, Pass pass) {
        return norm.forward(x, pass);
    }

    public Tensor backward(Tensor dy, Pass pass) {
        return norm.backward(dy, pass);
    }
}
