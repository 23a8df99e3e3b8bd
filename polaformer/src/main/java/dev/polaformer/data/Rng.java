package dev.polaformer.data;

import java.util.SplittableRandom;

/**
 * Counter-based randomness: a generator whose seed is a hash of a base seed and a list of coordinates, such as
 * {@code (seed, stream, epoch, position)}. Every random choice in the data pipeline is drawn from a generator made
 * here for exactly the thing being decided (the shuffle of one epoch, the augmentation of one sample), so the
 * result depends only on those coordinates: not on thread timing, not on how many samples came before, and a run
 * resumed at any batch needs no saved generator state.
 *
 * <p>The hash chains SplitMix64's finaliser (Stafford's variant 13) over the coordinates; each coordinate is mixed
 * together with its position, so {@code of(s, 1, 2)}, {@code of(s, 2, 1)} and {@code of(s, 1, 2, 0)} are unrelated
 * streams.
 */
public final class Rng {
    /** The stream of the {@link Loader}'s epoch shuffle: {@code of(seed, SHUFFLE_STREAM, epoch)}. */
    public static final long SHUFFLE_STREAM = 0x5348_5546L;
    /** The stream of per-sample augmentation: {@code of(seed, SAMPLE_STREAM, epoch, positionInEpoch)}. */
    public static final long SAMPLE_STREAM = 0x5341_4D50L;
    // Other users (mixup, stochastic depth, …) should pick their own stream constants.

    private static final long GOLDEN_GAMMA = 0x9E3779B97F4A7C15L;

    private Rng() {}

    public static SplittableRandom of(long seed, long... coordinates) {
        long h = mix64(seed ^ 0x6A09E667F3BCC909L);
        for (int i = 0; i < coordinates.length; i++) {
            h = mix64(h ^ mix64(coordinates[i] + (i + 1) * GOLDEN_GAMMA));
        }
        return new SplittableRandom(h);
    }

    static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
