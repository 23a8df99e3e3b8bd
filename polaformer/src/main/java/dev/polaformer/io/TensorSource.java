package dev.polaformer.io;

import java.io.IOException;
import java.util.Set;

/** Named tensors read from a weights file (safetensors or a PyTorch checkpoint), converted to float32. */
public interface TensorSource extends AutoCloseable {
    /** Where the tensors come from, for messages. */
    String describe();

    Set<String> names();

    int[] shape(String name);

    float[] floats(String name) throws IOException;

    /** The value of a one-element integer tensor ({@code num_batches_tracked}). */
    long longValue(String name) throws IOException;

    @Override
    default void close() throws IOException {}

    /** {@code inner}'s tensors, closing {@code owner} (the open file behind them) on close. */
    static TensorSource closing(TensorSource inner, AutoCloseable owner) {
        return new TensorSource() {
            public String describe() { return inner.describe(); }
            public Set<String> names() { return inner.names(); }
            public int[] shape(String name) { return inner.shape(name); }
            public float[] floats(String name) throws IOException { return inner.floats(name); }
            public long longValue(String name) throws IOException { return inner.longValue(name); }
            public void close() throws IOException {
                try {
                    owner.close();
                } catch (IOException | RuntimeException e) {
                    throw e;
                } catch (Exception e) {
                    throw new IOException(e);
                }
            }
        };
    }

    static TensorSource of(SafetensorsFile f) {
        return new TensorSource() {
            public String describe() { return f.path().toString(); }
            public Set<String> names() { return f.entries().keySet(); }
            public int[] shape(String name) { return f.entry(name).shape().clone(); }
            public float[] floats(String name) throws IOException { return f.floats(name); }
            public long longValue(String name) throws IOException {
                SafetensorsFile.Entry e = f.entry(name);
                if (e.dtype().isFloating()) return (long) f.floats(name)[0];
                long[] v = f.longs(name);
                if (v.length != 1) throw new IllegalArgumentException(f.path() + ": " + name + " is not a single integer");
                return v[0];
            }
            public void close() throws IOException { f.close(); }
        };
    }
}
