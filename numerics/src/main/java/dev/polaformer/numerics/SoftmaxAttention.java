package dev.polaformer.numerics;

/**
 * The core of PolaFormer++'s softmax attention (spec §1.8, steps 2–3), forward and backward:
 * per batch and head, with {@code d = C/heads},
 * <pre>
 *   q̃ = rope(q), k̃ = rope(k)      (tables (N, d), shared by all heads)
 *   out_n = Σ_j softmax_j(d^−½ · q̃_n·k̃_j) v_j
 * </pre>
 * Tensors are {@code (B, N, C)} with unit-stride rows (column slices of {@code qkvo} are fine). Stateless:
 * the backward recomputes the attention weights. {@code dq, dk, dv} are overwritten.
 */
public interface SoftmaxAttention {

    void forward(Tensor q, Tensor k, Tensor v, int heads, RopeTables rope, Tensor out);

    void backward(Tensor q, Tensor k, Tensor v, int heads, RopeTables rope, Tensor dOut,
                  Tensor dq, Tensor dk, Tensor dv);

    /** The checks every implementation applies to its arguments. */
    static void check(String op, Tensor q, Tensor k, Tensor v, int heads, RopeTables rope, Tensor out) {
        Shapes.requireRank(op, "q", q, 3);
        int b = q.dim(0), n = q.dim(1), c = q.dim(2);
        if (heads <= 0 || c % heads != 0 || (c / heads) % 2 != 0) {
            throw new IllegalArgumentException(op + ": " + c + " channels do not split into " + heads
                    + " heads of even size");
        }
        Shapes.requireTokens(op, "q", q, b, n, c);
        Shapes.requireTokens(op, "k", k, b, n, c);
        Shapes.requireTokens(op, "v", v, b, n, c);
        Shapes.requireTokens(op, "out", out, b, n, c);
        Shapes.requireShape(op, "rope.sin", rope.sin(), n, c / heads);
        Shapes.requireShape(op, "rope.cos", rope.cos(), n, c / heads);
        Shapes.requireContiguous(op, "rope.sin", rope.sin());
        Shapes.requireContiguous(op, "rope.cos", rope.cos());
    }
}
