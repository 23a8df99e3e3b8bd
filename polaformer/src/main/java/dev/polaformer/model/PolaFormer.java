package dev.polaformer.model;

import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.Tensor;

/**
 * The PolaFormer++ network (spec §1), channels-last throughout:
 * <pre>
 *   patch_embed (stride 4) → layers.0..3 (blocks, then PatchMerging except the last)
 *   → proj 1×1 → norm BatchNorm → Swish → global average pool → head 1×1 → logits (B, num_classes)
 * </pre>
 * State-dict keys and order are the official ones. Parameters start at zero; see {@link Initializer} for the
 * official initialisation, or load a checkpoint.
 */
public final class PolaFormer extends Module {
    public static final int IN_CHANNELS = 3;
    /** Every stride in the network divides 32. */
    public static final int SIZE_MULTIPLE = 32;

    public final Variant variant;
    public final int numClasses;
    public final PatchEmbed patchEmbed;
    public final ModuleList<Stage> layers;
    public final Conv2d proj;
    public final BatchNorm2d norm;
    public final Conv2d head;

    public PolaFormer(Backend backend, Variant variant, int numClasses) {
        this(backend, variant, numClasses, variant.dropPathRate());
    }

    public PolaFormer(Backend backend, Variant variant, int numClasses, double dropPathRate) {
        super(backend);
        if (numClasses < 1) throw new IllegalArgumentException("num_classes must be positive, got " + numClasses);
        this.variant = variant;
        this.numClasses = numClasses;
        this.patchEmbed = child("patch_embed", new PatchEmbed(backend, IN_CHANNELS, variant.dim(0)));
        this.layers = child("layers", new ModuleList<>(backend));
        double[] rates = variant.dropPathRates(dropPathRate);
        for (int i = 0, first = 0; i < variant.stages(); first += variant.depth(i), i++) {
            layers.add(new Stage(backend, variant, i, rates, first));
        }
        this.proj = child("proj", new Conv2d(backend, variant.dim(3), variant.projection(), 1, 1, 0, true));
        this.norm = child("norm", new BatchNorm2d(backend, variant.projection()));
        this.head = child("head", new Conv2d(backend, variant.projection(), numClasses, 1, 1, 0, true));
    }

    private record Saved(Tensor normalized, int h, int w) {}

    /** Checks an input batch: {@code (B, H, W, 3)} with H and W positive multiples of 32. */
    public static void checkInput(Tensor images) {
        int[] s = images.shape();
        if (s.length != 4 || s[3] != IN_CHANNELS || s[0] < 1 || s[1] < SIZE_MULTIPLE || s[2] < SIZE_MULTIPLE
                || s[1] % SIZE_MULTIPLE != 0 || s[2] % SIZE_MULTIPLE != 0) {
            throw new IllegalArgumentException("PolaFormer input must be (B, H, W, 3) channels-last with H and W "
                    + "positive multiples of " + SIZE_MULTIPLE + ", got " + java.util.Arrays.toString(s));
        }
    }

    /** {@code images (B, H, W, 3)} → logits {@code (B, num_classes)}. */
    public Tensor forward(Tensor images, Pass pass, ActivationSink sink) {
        checkInput(images);
        Tensor x = patchEmbed.forward(images, pass);
        sink.accept("patch_embed", x);
        for (int i = 0; i < layers.size(); i++) {
            Tensor next = layers.get(i).forward(x, pass, sink);
            pass.done(x);
            x = next;
        }
        int b = x.dim(0), h = x.dim(1), w = x.dim(2), p = variant.projection();
        Tensor projected = proj.forward(x, pass);
        pass.done(x);
        Tensor normalized = norm.forward(projected, pass);
        if (normalized != projected) pass.done(projected);
        Tensor swished = pass.empty(normalized.shape());
        backend.silu(normalized, swished);
        pass.done(normalized);
        Tensor pooled = pass.empty(b, p);
        backend.avgPool(swished, pooled);
        pass.done(swished);
        sink.accept("pooled", pooled);
        Tensor logits = head.forward(pooled.reshape(b, 1, 1, p), pass).reshape(b, numClasses);
        if (pass.recording()) pass.save(new Saved(normalized, h, w));
        return logits;
    }

    /** Each convolution followed by a BatchNorm (stem, downsampling, final projection), for folding the two. */
    void forEachConvThenNorm(java.util.function.BiConsumer<Conv2d, BatchNorm2d> action) {
        patchEmbed.forEachConvThenNorm(action);
        for (int i = 0; i < layers.size(); i++) {
            PatchMerging d = layers.get(i).downsample;
            if (d != null) action.accept(d.reduction, d.norm);
        }
        action.accept(proj, norm);
    }

    public Tensor forward(Tensor images, Pass pass) {
        return forward(images, pass, ActivationSink.NONE);
    }

    /** Backpropagates {@code dLogits (B, num_classes)} into every parameter's gradient. */
    public void backward(Tensor dLogits, Pass pass) {
        Saved s = pass.restore(Saved.class);
        int b = dLogits.dim(0), p = variant.projection();
        Tensor dPooled = head.backward(dLogits.reshape(b, 1, 1, numClasses), pass).reshape(b, p);
        Tensor dSwished = pass.empty(b, s.h, s.w, p);
        backend.avgPoolBackward(dPooled, dSwished);
        Tensor dNormalized = pass.empty(dSwished.shape());
        backend.siluBackward(s.normalized, dSwished, dNormalized);
        Tensor d = proj.backward(norm.backward(dNormalized, pass), pass);
        for (int i = layers.size() - 1; i >= 0; i--) d = layers.get(i).backward(d, pass);
        patchEmbed.backward(d, pass);
    }
}
