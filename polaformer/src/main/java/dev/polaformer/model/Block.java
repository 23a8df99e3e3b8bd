package dev.polaformer.model;

import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.RopeTables;
import dev.polaformer.numerics.Tensor;

/**
 * One PolaFormer++ block (spec §1.4), channels-last:
 * <pre>
 *   x = x + pos(x)                                    depthwise 3×3
 *   x = x + DropPath(gamma_1 ⊙ attn(norm1(x)))
 *   x = x + DropPath(gamma_2 ⊙ ffn(norm2(x)))
 * </pre>
 * State-dict order: gamma_1, gamma_2, then norm1, attn, norm2, ffn, pos. Without layerscale (no released
 * config) the gammas are absent and the branches are added as they are.
 */
public final class Block extends Module {
    public final int dim;
    public final boolean linear;
    public final double dropPath;
    public final Parameter gamma1, gamma2;
    public final LayerNorm2d norm1, norm2;
    public final GatedAttention attn;
    public final FeedForward ffn;
    public final DepthwiseConv2d pos;

    public Block(Backend backend, boolean linear, int dim, int heads, int ffnDim, double dropPath, boolean layerscale) {
        super(backend);
        this.dim = dim;
        this.linear = linear;
        this.dropPath = dropPath;
        this.gamma1 = layerscale ? parameter("gamma_1", 1, dim, 1, 1) : null;
        this.gamma2 = layerscale ? parameter("gamma_2", 1, dim, 1, 1) : null;
        this.norm1 = child("norm1", new LayerNorm2d(backend, dim));
        this.attn = child("attn", linear ? new PolaLinearAttention(backend, dim, heads) : new VanillaSelfAttention(backend, dim, heads));
        this.norm2 = child("norm2", new LayerNorm2d(backend, dim));
        this.ffn = child("ffn", new FeedForward(backend, dim, ffnDim));
        this.pos = child("pos", new DepthwiseConv2d(backend, dim, 3));
    }

    private record Saved(Tensor attnOut, Tensor ffnOut, Tensor keep1, Tensor keep2) {}

    /**
     * @param rope the stage's tables for this block's attention: {@code RoPE_linear}'s for a linear block,
     *             {@code RoPE}'s for a softmax block
     */
    public Tensor forward(Tensor x, RopeTables rope, Pass pass) {
        Tensor x1 = pos.forward(x, pass);
        if (!pass.folded(pos)) backend.add(x1, x, x1);

        Tensor n1 = norm1.forward(x1, pass);
        Tensor a = attn.forward(n1, rope, pass);
        pass.done(n1);
        Tensor keep1 = DropPath.mask(pass, x.dim(0), dropPath);
        Tensor x2 = pass.empty(x.shape());
        residual(x1, a, pass.folded(this) ? null : gamma1, keep1, x2);

        Tensor n2 = norm2.forward(x2, pass);
        Tensor f = ffn.forward(n2, pass);
        pass.done(n2);
        Tensor keep2 = DropPath.mask(pass, x.dim(0), dropPath);
        Tensor x3 = pass.empty(x.shape());
        residual(x2, f, pass.folded(this) ? null : gamma2, keep2, x3);

        if (pass.recording()) pass.save(new Saved(a, f, keep1, keep2));
        if (!pass.recording()) {
            pass.done(x1);
            pass.done(a);
            pass.done(x2);
            pass.done(f);
        }
        return x3;
    }

    /** {@code out = x + branch ⊙ gamma [⊙ keep]}; gamma null when absent or folded into the branch. */
    private void residual(Tensor x, Tensor branch, Parameter gamma, Tensor keep, Tensor out) {
        if (gamma == null && keep == null) {
            backend.add(branch, x, out);
            return;
        }
        if (gamma != null) backend.mul(branch, gamma.value().reshape(dim), out); else backend.copy(branch, out);
        if (keep != null) backend.mul(out, keep, out);
        backend.add(out, x, out);
    }

    public Tensor backward(Tensor dy, Pass pass) {
        Saved s = pass.restore(Saved.class);
        Tensor dx2 = pass.empty(dy.shape());
        backend.copy(dy, dx2);
        Tensor dF = branchBackward(dy, s.ffnOut, gamma2, s.keep2, pass);
        backend.add(dx2, norm2.backward(ffn.backward(dF, pass), pass), dx2);

        Tensor dA = branchBackward(dx2, s.attnOut, gamma1, s.keep1, pass);
        Tensor dx1 = norm1.backward(attn.backward(dA, pass), pass);
        backend.add(dx1, dx2, dx1);

        Tensor dx = pos.backward(dx1, pass);
        backend.add(dx, dx1, dx);
        return dx;
    }

    /** Gradient into the branch output of {@code x + branch ⊙ gamma [⊙ keep]}; accumulates gamma's gradient. */
    private Tensor branchBackward(Tensor dOut, Tensor branch, Parameter gamma, Tensor keep, Pass pass) {
        Tensor dKept = dOut;
        if (keep != null) {
            dKept = pass.empty(dOut.shape());
            backend.mul(dOut, keep, dKept);
        }
        if (gamma == null) return dKept;
        backend.mulSumTo(dKept, branch, gamma.grad().reshape(dim), true);
        Tensor dBranch = pass.empty(dOut.shape());
        backend.mul(dKept, gamma.value().reshape(dim), dBranch);
        return dBranch;
    }
}
