package dev.polaformer.data;

import dev.polaformer.infer.RgbImage;

import java.io.IOException;
import java.util.List;

/**
 * A labelled image collection with random access. Implementations must allow concurrent calls from several
 * loader threads (reads only).
 */
public interface Dataset {
    int size();

    int numClasses();

    /** The class names, indexed by label. */
    List<String> classNames();

    int label(int index);

    /**
     * Decodes sample {@code index}. An unreadable sample (corrupt or truncated file, unsupported format) throws
     * {@link IOException} or {@link IllegalArgumentException} with a message that names it; the {@link Loader}
     * skips such samples.
     */
    RgbImage image(int index) throws IOException;

    /** A short human-readable name for sample {@code index} (a path, or "fashion-mnist train #123"), for messages. */
    String describe(int index);
}
