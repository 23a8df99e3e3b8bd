package dev.polaformer.model;

import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.Tensor;

/**
 * The stride-4 convolutional stem (spec §1.1). Its layers sit in a child {@code proj} under the indices of the
 * official {@code nn.Sequential}: convs 0, 3, 6, 9 and BatchNorms 1, 4, 7, 10, with GELU at 2, 5, 8 (no state)
 * and none after 10.
 */
public final class PatchEmbed extends Module {
    private final Sequence proj;

    public PatchEmbed(Backend backend, int inChannels, int dim) {
        super(backend);
        this.proj = child("proj", new Sequence(backend, inChannels, dim));
    }

    public Tensor forward(Tensor x, Pass pass) {
        return proj.forward(x, pass);
    }

    void forEachConvThenNorm(java.util.function.BiConsumer<Conv2d, BatchNorm2d> action) {
        proj.forEachConvThenNorm(action);
    }

    /** Returns null: the stem's input is the image, whose gradient nobody needs. */
    public Tensor backward(Tensor dy, Pass pass) {
        return proj.backward(dy, pass);
    }

    static final class Sequence extends Module {
        private final Conv2d[] convs = new Conv2d[4];
        private final BatchNorm2d[] norms = new BatchNorm2d[4];

        Sequence(Backend backend, int in, int dim) {
            super(backend);
            int half = dim / 2;
            int[] ins = {in, half, half, half}, outs = {half, half, half, dim}, strides = {2, 1, 1, 2};
            for (int i = 0; i < 4; i++) {
                convs[i] = child(String.valueOf(3 * i), new Conv2d(backend, ins[i], outs[i], 3, strides[i], 1, i > 0));
                norms[i] = child(String.valueOf(3 * i + 1), new BatchNorm2d(backend, outs[i]));
            }
        }

        private record Saved(Tensor[] preGelu) {}

        void forEachConvThenNorm(java.util.function.BiConsumer<Conv2d, BatchNorm2d> action) {
            for (int i = 0; i < 4; i++) action.accept(convs[i], norms[i]);
        }

        Tensor forward(Tensor x, Pass pass) {
            Tensor[] preGelu = pass.recording() ? new Tensor[3] : null;
            Tensor h = x;
            for (int i = 0; i < 4; i++) {
                Tensor c = convs[i].forward(h, pass);
                if (h != x) pass.done(h);
                h = norms[i].forward(c, pass);
                if (h != c) pass.done(c);
                if (i < 3) {
                    if (preGelu != null) preGelu[i] = h;
                    Tensor g = pass.empty(h.shape());
                    pass.backend().gelu(h, g);
                    pass.done(h);
                    h = g;
                }
            }
            if (preGelu != null) pass.save(new Saved(preGelu));
            return h;
        }

        Tensor backward(Tensor dy, Pass pass) {
            Saved s = pass.restore(Saved.class);
            Tensor d = dy;
            for (int i = 3; i >= 0; i--) {
                if (i < 3) {
                    Tensor dPre = pass.empty(d.shape());
                    pass.backend().geluBackward(s.preGelu[i], d, dPre);
                    d = dPre;
                }
                d = convs[i].backward(norms[i].backward(d, pass), pass);
            }
            return d;
        }
    }
}
