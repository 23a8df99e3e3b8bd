package dev.polaformer.model;

/** One entry of a module's state dict: a float tensor ({@link Parameter}) or an integer counter ({@link Counter}). */
public sealed interface StateEntry permits Parameter, Counter {
    /** The shape the official state dict gives this entry. */
    int[] shape();
}
