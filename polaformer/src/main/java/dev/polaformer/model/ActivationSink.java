package dev.polaformer.model;

import dev.polaformer.numerics.Tensor;

/**
 * Receives intermediate activations by their golden-file names ({@code patch_embed}, {@code layers.i.blocks.j},
 * {@code layers.i}, {@code pooled}) during a forward pass. The tensor is only valid during the call.
 */
@FunctionalInterface
public interface ActivationSink {
    ActivationSink NONE = (name, t) -> {};

    void accept(String name, Tensor activation);
}
