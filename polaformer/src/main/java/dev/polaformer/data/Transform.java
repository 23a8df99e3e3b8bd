package dev.polaformer.data;

import dev.polaformer.infer.RgbImage;

import java.util.SplittableRandom;

/**
 * Turns one decoded image into the model's input: {@code size × size × 3} normalised floats, channels last, written
 * at {@code out[offset..]}. Every random choice is drawn from {@code rng}, which the {@link Loader} makes for that
 * sample alone ({@link Rng}); implementations are stateless and safe to call from several threads.
 */
public interface Transform {
    void apply(RgbImage image, SplittableRandom rng, float[] out, int offset);

    /** The output side in pixels. */
    int size();

    /** Floats written per image. */
    default int floatsPerImage() {
        return size() * size() * 3;
    }
}
