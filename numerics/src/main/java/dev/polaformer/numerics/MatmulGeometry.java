package dev.polaformer.numerics;

/**
 * The sizes of a {@link Backend#matmul} call, checked: {@code c (batch, m, n) = op(a) (m, k) · op(b) (k, n)}.
 * {@code aBatched}/{@code bBatched} say whether an operand has its own matrix per batch entry or one shared.
 */
public record MatmulGeometry(int batch, int m, int n, int k, boolean aBatched, boolean bBatched) {

    public static MatmulGeometry of(String op, Tensor a, boolean transA, Tensor b, boolean transB, Tensor c) {
        Shapes.requireNonNull(op, "a", a);
        Shapes.requireNonNull(op, "b", b);
        Shapes.requireNonNull(op, "c", c);
        requireMatrix(op, "a", a);
        requireMatrix(op, "b", b);
        requireMatrix(op, "c", c);
        if (a.rank() == 3 && c.rank() != 3 || b.rank() == 3 && c.rank() != 3) {
            throw new IllegalArgumentException(op + ": batched operands need a batched output, got a " + Shapes.str(a)
                    + ", b " + Shapes.str(b) + ", c " + Shapes.str(c));
        }
        int batch = c.rank() == 3 ? c.dim(0) : 1;
        int m = transA ? a.dim(-1) : a.dim(-2), ka = transA ? a.dim(-2) : a.dim(-1);
        int kb = transB ? b.dim(-1) : b.dim(-2), n = transB ? b.dim(-2) : b.dim(-1);
        boolean ok = ka == kb && c.dim(-2) == m && c.dim(-1) == n
                && (a.rank() == 2 || a.dim(0) == batch) && (b.rank() == 2 || b.dim(0) == batch);
        if (!ok) {
            throw new IllegalArgumentException(op + ": shapes do not multiply: a " + Shapes.str(a) + (transA ? "ᵀ" : "")
                    + " · b " + Shapes.str(b) + (transB ? "ᵀ" : "") + " → c " + Shapes.str(c));
        }
        return new MatmulGeometry(batch, m, n, ka, a.rank() == 3, b.rank() == 3);
    }

    private static void requireMatrix(String op, String name, Tensor t) {
        if (t.rank() != 2 && t.rank() != 3) {
            throw new IllegalArgumentException(op + ": " + name + " must be a matrix or a batch of matrices, got "
                    + Shapes.str(t));
        }
        Shapes.requireUnitInnerStride(op, name, t);
    }
}
