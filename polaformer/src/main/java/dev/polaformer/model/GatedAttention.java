package dev.polaformer.model;

import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.RopeTables;
import dev.polaformer.numerics.Tensor;

/**
 * What PolaFormer++'s two attention modules share (spec §1.7 steps 1–2 and 9, §1.8 steps 1 and 4):
 * <pre>
 *   [Q | K | V | G] = tokens(x)·Wᵀ + b          one fused Linear C → 4C ("qkvg" or "qkvo")
 *   LEPE = DWConv5x5(image(V))
 *   R    = core(Q, K, V) + LEPE                 the attention core is the subclass's
 *   Y    = (R ⊙ G)·Wprojᵀ + bproj               G is a raw linear gate, no activation
 * </pre>
 * Input and output are channels-last {@code (B, H, W, C)}.
 */
public abstract sealed class GatedAttention extends Module permits PolaLinearAttention, VanillaSelfAttention {
    public final int dim, heads;
    public final Linear fused;
    public final DepthwiseConv2d lepe;
    public final Linear proj;

    GatedAttention(Backend backend, String fusedName, int dim, int heads) {
        super(backend);
        if (dim % heads != 0 || (dim / heads) % 2 != 0) {
            throw new IllegalArgumentException(getClass().getSimpleName() + ": dim " + dim + " does not split into "
                    + heads + " heads of even size");
        }
        this.dim = dim;
        this.heads = heads;
        this.fused = child(fusedName, new Linear(backend, dim, 4 * dim));
        this.lepe = child("lepe", new DepthwiseConv2d(backend, dim, 5));
        this.proj = child("proj", new Linear(backend, dim, dim));
    }

    /** The attention core: writes {@code out (B,N,C)} from column slices {@code q, k, v} of the fused projection. */
    abstract void core(Tensor q, Tensor k, Tensor v, RopeTables rope, Tensor out);

    /** Its backward: overwrites {@code dq, dk, dv} and accumulates the core's own parameter gradients. */
    abstract void coreBackward(Tensor q, Tensor k, Tensor v, RopeTables rope, Tensor dOut, Tensor dq, Tensor dk, Tensor dv);

    private record Saved(Tensor fusedOut, Tensor r, Tensor gate, RopeTables rope) {}

    public Tensor forward(Tensor x, RopeTables rope, Pass pass) {
        int b = x.dim(0), h = x.dim(1), w = x.dim(2), n = h * w, c = dim;
        Tensor qkvg = fused.forward(x.reshape(b, n, c), pass);
        Tensor q = qkvg.narrow(2, 0, c), k = qkvg.narrow(2, c, c), v = qkvg.narrow(2, 2 * c, c);
        Tensor vImage = pass.empty(b, h, w, c);
        backend.copy(v, vImage.reshape(b, n, c));
        Tensor local = lepe.forward(vImage, pass);
        Tensor r = pass.empty(b, n, c);
        core(q, k, v, rope, r);
        backend.add(r, local.reshape(b, n, c), r);
        pass.done(local);
        Tensor gate = qkvg.narrow(2, 3 * c, c);  // read in place: the product takes strided operands
        Tensor gated = pass.empty(b, n, c);
        backend.mul(r, gate, gated);
        Tensor y = proj.forward(gated, pass);
        if (pass.recording()) pass.save(new Saved(qkvg, r, gate, rope));
        pass.done(gated);
        return y.reshape(b, h, w, c);
    }

    public Tensor backward(Tensor dy, Pass pass) {
        Saved s = pass.restore(Saved.class);
        int b = dy.dim(0), h = dy.dim(1), w = dy.dim(2), n = h * w, c = dim;
        Tensor dGated = proj.backward(dy.reshape(b, n, c), pass);
        Tensor dR = pass.empty(b, n, c), dGate = pass.empty(b, n, c);
        backend.mul(dGated, s.gate, dR);
        backend.mul(dGated, s.r, dGate);
        Tensor dFused = pass.empty(b, n, 4 * c);
        backend.copy(dGate, dFused.narrow(2, 3 * c, c));
        Tensor dvLocal = lepe.backward(dR.reshape(b, h, w, c), pass);
        Tensor q = s.fusedOut.narrow(2, 0, c), k = s.fusedOut.narrow(2, c, c), v = s.fusedOut.narrow(2, 2 * c, c);
        Tensor dv = pass.empty(b, n, c);
        coreBackward(q, k, v, s.rope, dR, dFused.narrow(2, 0, c), dFused.narrow(2, c, c), dv);
        backend.add(dv, dvLocal.reshape(b, n, c), dv);
        backend.copy(dv, dFused.narrow(2, 2 * c, c));
        return fused.backward(dFused, pass).reshape(b, h, w, c);
    }
}
