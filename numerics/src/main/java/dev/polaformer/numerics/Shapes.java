package dev.polaformer.numerics;

import java.util.Arrays;

/** Shape arithmetic and the argument checks every backend shares, so that all report bad input alike. */
public final class Shapes {
    private Shapes() {}

    /** Row-major strides of {@code shape}. */
    public static int[] contiguousStrides(int[] shape) {
        int[] s = new int[shape.length];
        int acc = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            s[i] = acc;
            acc *= Math.max(shape[i], 1);
        }
        return s;
    }

    /** Element count, failing with the shape in the message when it exceeds {@code Integer.MAX_VALUE}. */
    public static long checkedSize(int[] shape) {
        long n = 1;
        for (int d : shape) {
            if (d < 0) throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(shape));
            n *= d;
            if (n > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " has more than 2^31-1 elements");
            }
        }
        return n;
    }

    /**
     * Strides that let a tensor of {@code shape}/{@code strides} be viewed as {@code newShape} without copying,
     * or null when its memory is not laid out for it. Dimensions are regrouped only where the old ones form one
     * evenly strided run (so a column slice {@code (B, N, C)} of a wider matrix can become {@code (B·N, C)}).
     */
    static int[] viewStrides(int[] shape, int[] strides, int[] newShape) {
        int[] od = new int[shape.length], os = new int[shape.length];
        int on = 0;
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] == 0) return contiguousStrides(newShape);
            if (shape[i] != 1) { od[on] = shape[i]; os[on++] = strides[i]; }
        }
        int nn = newShape.length;
        int[] ns = new int[nn];
        int oi = 0, ni = 0;
        while (ni < nn && oi < on) {
            long np = newShape[ni], op = od[oi];
            int nj = ni + 1, oj = oi + 1;
            while (np != op) {
                if (np < op) np *= newShape[nj++];
                else op *= od[oj++];
            }
            for (int ok = oi; ok < oj - 1; ok++) {
                if (os[ok] != od[ok + 1] * os[ok + 1]) return null;
            }
            ns[nj - 1] = os[oj - 1];
            for (int nk = nj - 1; nk > ni; nk--) ns[nk - 1] = ns[nk] * newShape[nk];
            ni = nj;
            oi = oj;
        }
        for (; ni < nn; ni++) ns[ni] = 1;
        return ns;
    }

    static int[] resolveReshape(int[] from, int[] to) {
        long n = checkedSize(from);
        int[] s = to.clone();
        int free = -1;
        long known = 1;
        for (int i = 0; i < s.length; i++) {
            if (s[i] == -1) {
                if (free >= 0) throw new IllegalArgumentException("reshape " + Arrays.toString(to) + ": two -1 dimensions");
                free = i;
            } else {
                if (s[i] < 0) throw new IllegalArgumentException("reshape " + Arrays.toString(to) + ": negative dimension");
                known *= s[i];
            }
        }
        if (free >= 0) {
            if (known == 0 || n % known != 0) {
                throw new IllegalArgumentException("cannot reshape " + Arrays.toString(from) + " to " + Arrays.toString(to));
            }
            s[free] = (int) (n / known);
        } else if (known != n) {
            throw new IllegalArgumentException("cannot reshape " + Arrays.toString(from) + " (" + n + " elements) to "
                    + Arrays.toString(to) + " (" + known + ")");
        }
        return s;
    }

    // ---------------------------------------------------------------- argument checks

    /** Fails unless {@code t} has exactly {@code expected} as shape. */
    public static void requireShape(String op, String name, Tensor t, int... expected) {
        requireNonNull(op, name, t);
        if (!hasShape(t, expected)) {
            throw new IllegalArgumentException(op + ": " + name + " must have shape " + Arrays.toString(expected)
                    + ", got " + Arrays.toString(t.shape()));
        }
    }

    // Fixed-rank forms of requireShape: a varargs array per check was allocation on every op of a planned forward.

    public static void requireShape(String op, String name, Tensor t, int d0) {
        requireNonNull(op, name, t);
        if (t.rank() != 1 || t.dim(0) != d0) requireShape(op, name, t, new int[] {d0});
    }

    public static void requireShape(String op, String name, Tensor t, int d0, int d1) {
        requireNonNull(op, name, t);
        if (t.rank() != 2 || t.dim(0) != d0 || t.dim(1) != d1) requireShape(op, name, t, new int[] {d0, d1});
    }

    public static void requireShape(String op, String name, Tensor t, int d0, int d1, int d2) {
        requireNonNull(op, name, t);
        if (t.rank() != 3 || t.dim(0) != d0 || t.dim(1) != d1 || t.dim(2) != d2) {
            requireShape(op, name, t, new int[] {d0, d1, d2});
        }
    }

    public static void requireShape(String op, String name, Tensor t, int d0, int d1, int d2, int d3) {
        requireNonNull(op, name, t);
        if (t.rank() != 4 || t.dim(0) != d0 || t.dim(1) != d1 || t.dim(2) != d2 || t.dim(3) != d3) {
            requireShape(op, name, t, new int[] {d0, d1, d2, d3});
        }
    }

    /**
     * A {@code (b, n, c)} operand of the attention cores: that shape, unit stride within rows (the rows may be
     * column slices of a wider tensor).
     */
    public static void requireTokens(String op, String name, Tensor t, int b, int n, int c) {
        requireNonNull(op, name, t);
        if (t.rank() != 3 || t.dim(0) != b || t.dim(1) != n || t.dim(2) != c) {
            throw new IllegalArgumentException(op + ": " + name + " must have shape [" + b + ", " + n + ", " + c
                    + "], got " + Arrays.toString(t.shape()));
        }
        requireUnitInnerStride(op, name, t);
    }

    /** Whether {@code t} has exactly this shape; compares in place (asked on every op: no copy of the shape). */
    public static boolean hasShape(Tensor t, int[] expected) {
        if (t.rank() != expected.length) return false;
        for (int i = 0; i < expected.length; i++) if (t.dim(i) != expected[i]) return false;
        return true;
    }

    public static void requireRank(String op, String name, Tensor t, int rank) {
        requireNonNull(op, name, t);
        if (t.rank() != rank) {
            throw new IllegalArgumentException(op + ": " + name + " must have rank " + rank + ", got shape "
                    + Arrays.toString(t.shape()));
        }
    }

    public static void requireSameShape(String op, String nameA, Tensor a, String nameB, Tensor b) {
        requireNonNull(op, nameA, a);
        requireNonNull(op, nameB, b);
        if (!a.sameShape(b)) {
            throw new IllegalArgumentException(op + ": " + nameA + " " + Arrays.toString(a.shape()) + " and " + nameB
                    + " " + Arrays.toString(b.shape()) + " must have the same shape");
        }
    }

    public static void requireContiguous(String op, String name, Tensor t) {
        requireNonNull(op, name, t);
        if (!t.isContiguous()) {
            throw new IllegalArgumentException(op + ": " + name + " must be contiguous, got " + t);
        }
    }

    /** Each row of the innermost dimension must be a contiguous run; outer dimensions may be strided. */
    public static void requireUnitInnerStride(String op, String name, Tensor t) {
        requireNonNull(op, name, t);
        if (!t.hasUnitInnerStride()) {
            throw new IllegalArgumentException(op + ": " + name + " must have a unit-stride last dimension, got " + t);
        }
    }

    public static void requireNonNull(String op, String name, Tensor t) {
        if (t == null) throw new IllegalArgumentException(op + ": " + name + " is missing");
        if (t.isReleased()) throw new IllegalStateException(op + ": " + name + " " + t + " used after its memory was released");
    }

    /** Fails unless {@code b}'s shape broadcasts to {@code a}'s (right-aligned, each dim 1 or equal). */
    public static void requireBroadcastable(String op, String nameA, Tensor a, String nameB, Tensor b) {
        requireNonNull(op, nameA, a);
        requireNonNull(op, nameB, b);
        if (!broadcasts(b.shape(), a.shape())) {
            throw new IllegalArgumentException(op + ": " + nameB + " " + Arrays.toString(b.shape())
                    + " does not broadcast to " + nameA + " " + Arrays.toString(a.shape()));
        }
    }

    /** True if {@code from} broadcasts to {@code to} with numpy rules (right-aligned, 1 or equal). */
    public static boolean broadcasts(int[] from, int[] to) {
        if (from.length > to.length) {
            for (int i = 0; i < from.length - to.length; i++) if (from[i] != 1) return false;
        }
        for (int i = 1; i <= Math.min(from.length, to.length); i++) {
            int f = from[from.length - i], t = to[to.length - i];
            if (f != 1 && f != t) return false;
        }
        return true;
    }

    /** {@code from} padded on the left with 1s to {@code rank} dims (dropping leading 1s if longer). */
    public static int[] alignRight(int[] from, int rank) {
        int[] s = new int[rank];
        Arrays.fill(s, 1);
        for (int i = 1; i <= Math.min(from.length, rank); i++) s[rank - i] = from[from.length - i];
        return s;
    }

    public static String str(Tensor t) {
        return t == null ? "null" : Arrays.toString(t.shape());
    }
}
