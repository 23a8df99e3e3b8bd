package dev.polaformer.data;

/**
 * One batch from a {@link Loader}.
 *
 * @param images channels-last normalised floats, {@code count × size × size × 3} (exactly that long)
 * @param labels the class of each image, {@code count} of them
 * @param count  images in the batch: the batch size, or fewer in the last batch of an epoch without dropLast and
 *               in a batch of that kind that lost unreadable samples
 * @param epoch  the epoch it belongs to
 * @param index  its index within the epoch (0-based, counting from the epoch's first batch even when resumed)
 */
public record Batch(float[] images, int[] labels, int count, int epoch, int index) {}
