package dev.polaformer.data;

import dev.polaformer.infer.Preprocess;
import dev.polaformer.infer.RgbImage;

import java.util.SplittableRandom;

/** The official evaluation transform ({@link Preprocess}: square bicubic resize, centre crop, normalise); no randomness. */
public final class EvalTransform implements Transform {
    private final Preprocess preprocess;

    public EvalTransform(Preprocess preprocess) {
        this.preprocess = preprocess;
    }

    @Override public void apply(RgbImage image, SplittableRandom rng, float[] out, int offset) {
        preprocess.apply(image, out, offset);
    }

    @Override public int size() { return preprocess.crop(); }

    @Override public String toString() { return "EvalTransform[" + preprocess.resize() + " → " + preprocess.crop() + "]"; }
}
