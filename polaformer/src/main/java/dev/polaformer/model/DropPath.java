package dev.polaformer.model;

import dev.polaformer.numerics.Tensor;

/**
 * Stochastic depth as timm 0.4.12 does it: in training, each sample's branch is kept with probability
 * {@code 1 − p} and then scaled by {@code 1/(1 − p)}, one Bernoulli draw per sample per branch.
 */
final class DropPath {
    private DropPath() {}

    /** The per-sample factor {@code (B, 1, 1, 1)}, or null when nothing is dropped (eval, or p = 0). */
    static Tensor mask(Pass pass, int batch, double p) {
        if (!pass.training() || p <= 0) return null;
        float keep = (float) (1 - p);
        float[] m = new float[batch];
        for (int i = 0; i < batch; i++) {
            // timm: floor(keep + U[0,1)) is 1 with probability keep
            m[i] = (float) Math.floor(keep + pass.random().nextDouble()) / keep;
        }
        Tensor t = pass.empty(batch, 1, 1, 1);
        t.storage().write(t.offset(), m, 0, batch);
        return t;
    }
}
