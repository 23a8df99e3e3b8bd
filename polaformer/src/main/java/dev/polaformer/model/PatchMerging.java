package dev.polaformer.model;

import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.Tensor;

/** Downsampling between stages (spec §1.2): {@code reduction} 3×3 stride-2 conv, then {@code norm} BatchNorm. */
public final class PatchMerging extends Module {
    public final Conv2d reduction;
    public final BatchNorm2d norm;

    public PatchMerging(Backend backend, int in, int out) {
        super(backend);
        this.reduction = child("reduction", new Conv2d(backend, in, out, 3, 2, 1, true));
        this.norm = child("norm", new BatchNorm2d(backend, out));
    }

    public Tensor forward(Tensor x, Pass pass) {
        Tensor r = reduction.forward(x, pass);
        Tensor y = norm.forward(r, pass);
        if (y != r) pass.done(r);
        return y;
    }

    public Tensor backward(Tensor dy, Pass pass) {
        return reduction.backward(norm.backward(dy, pass), pass);
    }
}
