package dev.polaformer.numerics;

import java.util.Arrays;

/**
 * A float32 tensor: a shape and strides (in elements) over a {@link Storage}.
 *
 * <p>Layouts. Feature maps inside this library are <em>channels-last</em>, {@code (B, H, W, C)}, which is
 * the same memory as the token layout {@code (B, N, C)} with {@code N = H·W} in row-major order: turning
 * an image into tokens is a {@link #reshape} and costs nothing. PyTorch's NCHW tensors enter and leave
 * through {@link #permute} views and {@link Backend#copy}.
 *
 * <p>Views ({@link #reshape}, {@link #permute}, {@link #narrow}, {@link #select}) share the storage and never
 * own it. The tensor returned by a backend's allocation owns its storage and releases it on
 * {@link #close()}; using any view of it afterwards throws.
 */
public final class Tensor implements AutoCloseable {
    private final Storage storage;
    private final int offset;
    private final int[] shape;
    private final int[] strides;
    private final boolean owner;

    private Tensor(Storage storage, int offset, int[] shape, int[] strides, boolean owner) {
        this.storage = storage;
        this.offset = offset;
        this.shape = shape;
        this.strides = strides;
        this.owner = owner;
    }

    /** A contiguous tensor that owns {@code storage}; for backends. */
    public static Tensor owning(Storage storage, int... shape) {
        int[] s = shape.clone();
        long n = Shapes.checkedSize(s);
        if (n > storage.size()) {
            throw new IllegalArgumentException("shape " + Arrays.toString(s) + " needs " + n
                    + " elements, storage holds " + storage.size());
        }
        return new Tensor(storage, 0, s, Shapes.contiguousStrides(s), true);
    }

    /** A view with explicit geometry; every addressed element must lie inside the storage. */
    public static Tensor view(Storage storage, int offset, int[] shape, int[] strides) {
        if (shape.length != strides.length) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " and strides "
                    + Arrays.toString(strides) + " differ in rank");
        }
        long lo = offset, hi = offset;
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] < 0) throw new IllegalArgumentException("negative dimension in " + Arrays.toString(shape));
            if (shape[i] == 0) { lo = offset; hi = offset - 1; break; }
            long span = (long) (shape[i] - 1) * strides[i];
            if (span < 0) lo += span; else hi += span;
        }
        if (hi >= lo && (lo < 0 || hi >= storage.size())) {
            throw new IndexOutOfBoundsException("view " + Arrays.toString(shape) + " strides " + Arrays.toString(strides)
                    + " at offset " + offset + " reaches outside a storage of " + storage.size() + " elements");
        }
        return new Tensor(storage, offset, shape.clone(), strides.clone(), false);
    }

    // ---------------------------------------------------------------- geometry

    public Storage storage() {
        storage.checkLive(this);
        return storage;
    }

    /** The storage without the liveness check, for owners that release it. */
    Storage storageUnchecked() {
        return storage;
    }

    /** The id of the backend whose memory this is. */
    public String backendId() {
        return storage.backendId();
    }

    public int offset() {
        return offset;
    }

    public int rank() {
        return shape.length;
    }

    /** A copy of the shape. */
    public int[] shape() {
        return shape.clone();
    }

    /** Size of dimension {@code d}; negative {@code d} counts from the end. */
    public int dim(int d) {
        return shape[d < 0 ? shape.length + d : d];
    }

    /** Stride of dimension {@code d} in elements; negative {@code d} counts from the end. */
    public int stride(int d) {
        return strides[d < 0 ? strides.length + d : d];
    }

    /** A copy of the strides. */
    public int[] strides() {
        return strides.clone();
    }

    /** Number of elements. */
    public int size() {
        return (int) Shapes.checkedSize(shape);
    }

    public boolean isContiguous() {
        if (size() <= 1) return true;
        // the strides of Shapes.contiguousStrides, compared as they are formed (asked on every op: no array)
        int expected = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            if (strides[i] != expected) return false;
            expected *= Math.max(shape[i], 1);
        }
        return true;
    }

    /** True if the last dimension is unit-stride, so each row is a contiguous run (a column slice qualifies). */
    public boolean hasUnitInnerStride() {
        return shape.length == 0 || strides[shape.length - 1] == 1 || shape[shape.length - 1] == 1;
    }

    public boolean sameShape(Tensor other) {
        return Arrays.equals(shape, other.shape);
    }

    public boolean isReleased() {
        return storage.isReleased();
    }

    // ---------------------------------------------------------------- views

    /**
     * A view with a new shape over the same memory; one dimension may be -1. Works for contiguous tensors and
     * for strided ones whose regrouped dimensions are evenly strided (e.g. {@code (B,N,C)} column slices of a
     * {@code (B,N,4C)} matrix flatten to {@code (B·N, C)}); otherwise fails, and the caller must copy.
     */
    public Tensor reshape(int... newShape) {
        int[] s = Shapes.resolveReshape(shape, newShape);
        // contiguous (nearly every reshape): the strides follow from the shape, without viewStrides' scratch arrays
        int[] st = isContiguous() ? Shapes.contiguousStrides(s) : Shapes.viewStrides(shape, strides, s);
        if (st == null) {
            throw new IllegalStateException("cannot view " + this + " as " + Arrays.toString(s) + " without a copy");
        }
        return new Tensor(storage, offset, s, st, false);
    }

    /** A view with the dimensions reordered: {@code permute(0, 2, 3, 1)} turns NCHW into NHWC. */
    public Tensor permute(int... order) {
        if (order.length != shape.length) {
            throw new IllegalArgumentException("permute " + Arrays.toString(order) + " of rank-" + shape.length + " " + this);
        }
        int[] s = new int[order.length], st = new int[order.length];
        boolean[] seen = new boolean[order.length];
        for (int i = 0; i < order.length; i++) {
            int d = order[i];
            if (d < 0 || d >= order.length || seen[d]) {
                throw new IllegalArgumentException("permute " + Arrays.toString(order) + " is not a permutation");
            }
            seen[d] = true;
            s[i] = shape[d];
            st[i] = strides[d];
        }
        return new Tensor(storage, offset, s, st, false);
    }

    /** The sub-range {@code [start, start + length)} of dimension {@code d}, as a view. */
    public Tensor narrow(int d, int start, int length) {
        int dd = d < 0 ? shape.length + d : d;
        if (start < 0 || length < 0 || start + length > shape[dd]) {
            throw new IndexOutOfBoundsException("narrow(" + d + ", " + start + ", " + length + ") of " + this);
        }
        int[] s = shape.clone();
        s[dd] = length;
        return new Tensor(storage, offset + start * strides[dd], s, strides.clone(), false);
    }

    /** Index {@code i} of dimension {@code d}, dropping that dimension. */
    public Tensor select(int d, int i) {
        int dd = d < 0 ? shape.length + d : d;
        if (i < 0 || i >= shape[dd]) throw new IndexOutOfBoundsException("select(" + d + ", " + i + ") of " + this);
        int[] s = new int[shape.length - 1], st = new int[shape.length - 1];
        for (int k = 0, j = 0; k < shape.length; k++) {
            if (k == dd) continue;
            s[j] = shape[k];
            st[j++] = strides[k];
        }
        return new Tensor(storage, offset + i * strides[dd], s, st, false);
    }

    // ---------------------------------------------------------------- host access

    /** Copies the elements, in row-major order of this view, to a new host array. */
    public float[] toArray() {
        storage.checkLive(this);
        float[] out = new float[size()];
        if (isContiguous()) {
            storage.read(offset, out, 0, out.length);
            return out;
        }
        // Gather row by row: read each innermost run (or single element) separately.
        int r = shape.length;
        int inner = shape[r - 1];
        boolean unit = strides[r - 1] == 1;
        int[] idx = new int[r];
        int rows = inner == 0 ? 0 : out.length / inner;
        float[] one = unit ? null : new float[1];
        for (int row = 0, pos = 0; row < rows; row++, pos += inner) {
            int base = offset;
            for (int k = 0; k < r - 1; k++) base += idx[k] * strides[k];
            if (unit) {
                storage.read(base, out, pos, inner);
            } else {
                for (int j = 0; j < inner; j++) {
                    storage.read(base + j * strides[r - 1], one, 0, 1);
                    out[pos + j] = one[0];
                }
            }
            for (int k = r - 2; k >= 0; k--) {
                if (++idx[k] < shape[k]) break;
                idx[k] = 0;
            }
        }
        return out;
    }

    /** The single element of a one-element tensor. */
    public float item() {
        if (size() != 1) throw new IllegalStateException("item() of " + this + ", which has " + size() + " elements");
        return toArray()[0];
    }

    /** Releases the storage if this tensor owns it; a view's close does nothing. */
    @Override
    public void close() {
        if (owner) storage.release();
    }

    public boolean isOwner() {
        return owner;
    }

    @Override
    public String toString() {
        String where = storage.isReleased() ? storage.backendId() + ", released" : storage.backendId();
        return "Tensor" + Arrays.toString(shape) + (isContiguous() ? "" : " strides " + Arrays.toString(strides))
                + " (" + where + ")";
    }
}
