package dev.polaformer.model;

import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.RopeTables;
import dev.polaformer.numerics.Tensor;

/**
 * Softmax attention with 2-D RoPE on q and k, flag {@code 'v'} (spec §1.8): the gated-attention frame around the
 * backend's {@link dev.polaformer.numerics.SoftmaxAttention} core. Takes the stage's {@code RoPE} tables
 * (width head_dim).
 */
public final class VanillaSelfAttention extends GatedAttention {

    public VanillaSelfAttention(Backend backend, int dim, int heads) {
        super(backend, "qkvo", dim, heads);
    }

    @Override
    void core(Tensor q, Tensor k, Tensor v, RopeTables rope, Tensor out) {
        backend.softmaxAttention().forward(q, k, v, heads, rope, out);
    }

    @Override
    void coreBackward(Tensor q, Tensor k, Tensor v, RopeTables rope, Tensor dOut, Tensor dq, Tensor dk, Tensor dv) {
        backend.softmaxAttention().backward(q, k, v, heads, rope, dOut, dq, dk, dv);
    }
}
