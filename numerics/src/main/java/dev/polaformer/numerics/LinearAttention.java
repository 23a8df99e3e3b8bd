package dev.polaformer.numerics;

/**
 * The fused core of PolaFormer++'s polarity-aware linear attention (spec §1.7, steps 3–8), forward and
 * backward.
 *
 * <p>Per batch {@code b} and head {@code h}, with {@code d = C/heads}, σ1 = sigmoid(s1[h]), σ2 = sigmoid(s2[h]),
 * a⁺ = max(a,0) and a⁻ = max(−a,0):
 * <pre>
 *   φsim(q) = exp([q⁺, q⁻] ⊙ σ1) − 1     φopp(q) = exp([q⁻, q⁺] ⊙ σ2) − 1     κ(k) = exp([k⁺, k⁻]) − 1
 *   m       = mean_n κ(k_n)                                   (before rotation)
 *   S1      = mean_n rope(κ(k_n)) · v_n[:d/2]ᵀ                S2 = mean_n rope(κ(k_n)) · v_n[d/2:]ᵀ
 *   out_n   = [ rope(φsim(q_n))ᵀ S1 / (φsim(q_n)·m + 1e-6) ,  rope(φopp(q_n))ᵀ S2 / (φopp(q_n)·m + 1e-6) ]
 * </pre>
 * where rope rotates channel pairs with {@code rope.sin}/{@code rope.cos} of shape {@code (N, 2d)}.
 *
 * <p>Tensors: {@code q, k, v, out} and their gradients are {@code (B, N, C)} with unit-stride rows; the outer
 * strides are free, so they may be column slices of the fused {@code qkvg} projection {@code (B, N, 4C)}.
 * {@code s1}, {@code s2} are the raw temperatures {@code (1, heads, 1, 2d)}.
 *
 * <p>Both calls are stateless: the backward recomputes the few reductions it needs (m, S, the normalisers)
 * instead of holding them between calls. {@code dq, dk, dv} are overwritten; {@code ds1, ds2} are accumulated.
 * Reductions over the tokens are accumulated in double (or in float blocks summed in double).
 * A key feature map that overflows float32 (any k above about 88.7) fails with an {@link ArithmeticException}
 * naming the batch and head rather than returning NaN.
 */
public interface LinearAttention {

    /** Keys must stay below this in magnitude: exp(88.72) is the largest float32. */
    float MAX_KEY = 88.72f;

    void forward(Tensor q, Tensor k, Tensor v, int heads, Tensor s1, Tensor s2, RopeTables rope, Tensor out);

    void backward(Tensor q, Tensor k, Tensor v, int heads, Tensor s1, Tensor s2, RopeTables rope, Tensor dOut,
                  Tensor dq, Tensor dk, Tensor dv, Tensor ds1, Tensor ds2);

    /** The error every implementation raises for a key whose feature map is not finite in float32. */
    static ArithmeticException badKey(String op, double key, int batch, int token, int head) {
        String where = " at batch " + batch + ", token " + token + ", head " + head;
        if (Double.isNaN(key)) return new ArithmeticException(op + ": key NaN" + where + " (the input is not finite)");
        return new ArithmeticException(op + ": key " + key + where + " makes exp(k) overflow float32 (|k| must stay below "
                + MAX_KEY + ")");
    }

    /** The checks every implementation applies to its arguments, so all backends reject bad input alike. */
    static void check(String op, Tensor q, Tensor k, Tensor v, int heads, Tensor s1, Tensor s2, RopeTables rope,
                      Tensor out) {
        Shapes.requireRank(op, "q", q, 3);
        int b = q.dim(0), n = q.dim(1), c = q.dim(2);
        if (heads <= 0 || c % heads != 0 || (c / heads) % 2 != 0) {
            throw new IllegalArgumentException(op + ": " + c + " channels do not split into " + heads
                    + " heads of even size");
        }
        int d = c / heads;
        Shapes.requireTokens(op, "q", q, b, n, c);
        Shapes.requireTokens(op, "k", k, b, n, c);
        Shapes.requireTokens(op, "v", v, b, n, c);
        Shapes.requireTokens(op, "out", out, b, n, c);
        Shapes.requireShape(op, "s1", s1, 1, heads, 1, 2 * d);
        Shapes.requireShape(op, "s2", s2, 1, heads, 1, 2 * d);
        Shapes.requireContiguous(op, "s1", s1);
        Shapes.requireContiguous(op, "s2", s2);
        Shapes.requireShape(op, "rope.sin", rope.sin(), n, 2 * d);
        Shapes.requireShape(op, "rope.cos", rope.cos(), n, 2 * d);
        Shapes.requireContiguous(op, "rope.sin", rope.sin());
        Shapes.requireContiguous(op, "rope.cos", rope.cos());
    }
}
