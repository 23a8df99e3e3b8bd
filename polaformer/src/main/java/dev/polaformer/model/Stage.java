package dev.polaformer.model;

import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.RopeTables;
import dev.polaformer.numerics.Tensor;

/**
 * One stage, the official {@code BasicLayer} (spec §1.2): its blocks, then a {@link PatchMerging} except in the
 * last stage. It owns both RoPE modules, {@code RoPE} (softmax blocks) and {@code RoPE_linear} (linear blocks),
 * evaluated at the stage's actual resolution.
 */
public final class Stage extends Module {
    public final int index;
    public final Rope rope, ropeLinear;
    public final ModuleList<Block> blocks;
    public final PatchMerging downsample;

    public Stage(Backend backend, Variant v, int index, double[] dropPathRates, int firstBlock) {
        super(backend);
        this.index = index;
        int dim = v.dim(index), heads = v.heads(index);
        this.rope = child("RoPE", new Rope(backend, dim, heads));
        this.ropeLinear = child("RoPE_linear", new Rope(backend, 2 * dim, heads));
        this.blocks = child("blocks", new ModuleList<>(backend));
        for (int j = 0; j < v.depth(index); j++) {
            blocks.add(new Block(backend, v.linearAttention(index), dim, heads, v.ffnDim(index),
                    dropPathRates[firstBlock + j], true));
        }
        this.downsample = index < v.stages() - 1
                ? child("downsample", new PatchMerging(backend, dim, v.dim(index + 1))) : null;
    }

    public Tensor forward(Tensor x, Pass pass, ActivationSink sink) {
        int h = x.dim(1), w = x.dim(2);
        Tensor out = x;
        for (int j = 0; j < blocks.size(); j++) {
            Block b = blocks.get(j);
            RopeTables tables = b.linear ? ropeLinear.tables(h, w) : rope.tables(h, w);
            Tensor next = b.forward(out, tables, pass);
            if (out != x) pass.done(out);
            out = next;
            if (sink != ActivationSink.NONE) sink.accept("layers." + index + ".blocks." + j, out);
        }
        if (downsample != null) {
            Tensor next = downsample.forward(out, pass);
            if (out != x) pass.done(out);
            out = next;
        }
        if (sink != ActivationSink.NONE) sink.accept("layers." + index, out);
        return out;
    }

    public Tensor backward(Tensor dy, Pass pass) {
        Tensor d = downsample != null ? downsample.backward(dy, pass) : dy;
        for (int j = blocks.size() - 1; j >= 0; j--) d = blocks.get(j).backward(d, pass);
        return d;
    }
}
