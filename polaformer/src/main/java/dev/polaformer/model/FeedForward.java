package dev.polaformer.model;

import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.Tensor;

/**
 * The official FeedForwardNetwork (spec §1.5): {@code fc1 → GELU → (+ dwconv3×3) → fc2}, where the depthwise
 * convolution is a residual inside the FFN. Children in official order: fc1, fc2, dwconv.
 */
public final class FeedForward extends Module {
    public final int dim, hidden;
    public final Linear fc1, fc2;
    public final DepthwiseConv2d dwconv;

    public FeedForward(Backend backend, int dim, int hidden) {
        super(backend);
        this.dim = dim;
        this.hidden = hidden;
        this.fc1 = child("fc1", new Linear(backend, dim, hidden));
        this.fc2 = child("fc2", new Linear(backend, hidden, dim));
        this.dwconv = child("dwconv", new DepthwiseConv2d(backend, hidden, 3));
    }

    private record Saved(Tensor preActivation) {}

    /** {@code x (B, H, W, C)} → same shape. */
    public Tensor forward(Tensor x, Pass pass) {
        int b = x.dim(0), h = x.dim(1), w = x.dim(2);
        Tensor u = null, g;
        if (pass.recording()) {
            u = fc1.forward(x, pass);
            g = pass.empty(b, h, w, hidden);
            backend.gelu(u, g.reshape(u.shape()));
        } else {
            g = fc1.forwardGelu(x, pass);  // the activation applied to the product's tiles while in cache
        }
        Tensor local = dwconv.forward(g, pass);
        if (!pass.folded(dwconv)) backend.add(local, g, local);
        Tensor y = fc2.forward(local, pass);
        if (pass.recording()) pass.save(new Saved(u));
        if (u != null) pass.done(u);
        pass.done(g);
        pass.done(local);
        return y;
    }

    public Tensor backward(Tensor dy, Pass pass) {
        Saved s = pass.restore(Saved.class);
        Tensor dLocal = fc2.backward(dy, pass);
        Tensor dG = dwconv.backward(dLocal, pass);
        backend.add(dG, dLocal, dG);
        Tensor dU = pass.empty(s.preActivation.shape());
        backend.geluBackward(s.preActivation, dG.reshape(dU.shape()), dU);
        return fc1.backward(dU, pass);
    }
}
