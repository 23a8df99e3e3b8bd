package dev.polaformer.model;

/**
 * Parameter and FLOP counts of a variant, in closed form (spec §2.1), so {@code info} needs no weights.
 * FLOPs count one multiply-add as one, over conv, linear and matmul only, as fvcore's default handles do;
 * biases, norms, activations and elementwise ops are not counted.
 */
public final class Complexity {
    private Complexity() {}

    /** Learnable parameters (buffers excluded). */
    public static long parameters(Variant v, int numClasses) {
        long c0 = v.dim(0), half = c0 / 2;
        long n = 3 * half * 9 + half + 2 * half;                    // stem conv 0 + BN 1
        n += 2 * (half * half * 9 + half + 2 * half);               // convs 3, 6 + BNs 4, 7
        n += half * c0 * 9 + c0 + 2 * c0;                           // conv 9 + BN 10
        for (int s = 0; s < v.stages(); s++) {
            long c = v.dim(s), f = v.ffnDim(s);
            long block = 2 * c                                       // gamma_1, gamma_2
                    + 4 * c                                          // norm1, norm2
                    + 4 * c * c + 4 * c + 25 * c + c + c * c + c     // qkv(g/o), lepe, proj
                    + (v.linearAttention(s) ? 4 * c : 0)             // s1, s2: 2 × heads × 2·head_dim
                    + c * f + f + f * c + c + 9 * f + f              // fc1, fc2, dwconv
                    + 9 * c + c;                                     // pos
            n += v.depth(s) * block;
            if (s < v.stages() - 1) {
                long next = v.dim(s + 1);
                n += c * next * 9 + next + 2 * next;                // reduction + norm
            }
        }
        long c3 = v.dim(3), p = v.projection();
        n += c3 * p + p + 2 * p + p * numClasses + numClasses;      // proj, norm, head
        return n;
    }

    /** Multiply-adds of conv, linear and matmul for one {@code h × w} image. */
    public static long flops(Variant v, int numClasses, int h, int w) {
        long c0 = v.dim(0), half = c0 / 2;
        int h2 = ceilHalf(h), w2 = ceilHalf(w), hs = ceilHalf(h2), ws = ceilHalf(w2);
        long f = 3 * half * 9 * (long) h2 * w2 + 2 * half * half * 9 * (long) h2 * w2 + half * c0 * 9 * (long) hs * ws;
        for (int s = 0; s < v.stages(); s++) {
            long c = v.dim(s), ffn = v.ffnDim(s), tokens = (long) hs * ws, d = c / v.heads(s);
            long block = 9 * c * tokens + 4 * c * c * tokens + 25 * c * tokens + c * c * tokens
                    + 2 * c * ffn * tokens + 9 * ffn * tokens;
            block += v.linearAttention(s) ? 4 * c * tokens + 4 * c * tokens * d : 2 * c * tokens * tokens;
            f += v.depth(s) * block;
            if (s < v.stages() - 1) {
                hs = ceilHalf(hs);
                ws = ceilHalf(ws);
                f += c * v.dim(s + 1) * 9 * (long) hs * ws;
            }
        }
        long p = v.projection();
        return f + v.dim(3) * p * (long) hs * ws + p * numClasses;
    }

    private static int ceilHalf(int x) {
        return (x + 1) / 2;
    }
}
