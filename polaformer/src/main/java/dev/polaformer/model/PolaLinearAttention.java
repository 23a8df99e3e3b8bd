package dev.polaformer.model;

import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.RopeTables;
import dev.polaformer.numerics.Tensor;

/**
 * Polarity-aware linear attention, flag {@code 'l'} (spec §1.7): the gated-attention frame around the backend's
 * fused {@link dev.polaformer.numerics.LinearAttention} core, with the learnable temperatures {@code s1}, {@code s2}
 * of shape {@code (1, heads, 1, 2·head_dim)}. Takes the stage's {@code RoPE_linear} tables (width 2·head_dim).
 */
public final class PolaLinearAttention extends GatedAttention {
    public final Parameter s1, s2;

    public PolaLinearAttention(Backend backend, int dim, int heads) {
        super(backend, "qkvg", dim, heads);
        int d = dim / heads;
        this.s1 = parameter("s1", 1, heads, 1, 2 * d);
        this.s2 = parameter("s2", 1, heads, 1, 2 * d);
    }

    @Override
    void core(Tensor q, Tensor k, Tensor v, RopeTables rope, Tensor out) {
        backend.linearAttention().forward(q, k, v, heads, s1.value(), s2.value(), rope, out);
    }

    @Override
    void coreBackward(Tensor q, Tensor k, Tensor v, RopeTables rope, Tensor dOut, Tensor dq, Tensor dk, Tensor dv) {
        backend.linearAttention().backward(q, k, v, heads, s1.value(), s2.value(), rope, dOut, dq, dk, dv,
                s1.grad(), s2.grad());
    }
}
