package dev.polaformer.numerics.cpu;

import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.RopeTables;
import dev.polaformer.numerics.TestData;
import dev.polaformer.numerics.Tensor;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Runs every CPU op once on fixed small inputs and prints a hash of each result's bits. {@link DeterminismTest}
 * runs it in a JVM without C2 and compares with a warm JVM: the bits must not depend on the compiler.
 */
public final class DeterminismProbe {
    public static void main(String[] args) {
        probe(new CpuBackend(2)).forEach((k, v) -> System.out.println(k + "=" + v));
    }

    static Map<String, Integer> probe(Backend b) {
        Map<String, Integer> out = new LinkedHashMap<>();
        int n = 48, c = 16, heads = 2;  // enough values that exp implementations visibly disagree
        float[][] tl = RopeTables.compute(RopeTables.defaultAngles(2 * c, heads), 6, 8);
        float[][] ts = RopeTables.compute(RopeTables.defaultAngles(c, heads), 6, 8);
        try (Tensor x = TestData.normal(b, 1, 2, n, c); Tensor k = TestData.normal(b, 2, 2, n, c);
             Tensor v = TestData.normal(b, 3, 2, n, c); Tensor g = TestData.normal(b, 4, c); Tensor be = TestData.normal(b, 5, c);
             Tensor s1 = TestData.normal(b, 6, 1, heads, 1, c); Tensor s2 = TestData.normal(b, 7, 1, heads, 1, c);
             RopeTables lin = new RopeTables(b.fromArray(tl[0], n, c), b.fromArray(tl[1], n, c));
             RopeTables sm = new RopeTables(b.fromArray(ts[0], n, c / 2), b.fromArray(ts[1], n, c / 2));
             Tensor y = b.zeros(2, n, c); Tensor dq = b.zeros(2, n, c); Tensor dk = b.zeros(2, n, c); Tensor dv = b.zeros(2, n, c);
             Tensor d1 = b.zeros(1, heads, 1, c); Tensor d2 = b.zeros(1, heads, 1, c);
             Tensor mean = b.zeros(2 * n); Tensor rstd = b.zeros(2 * n); Tensor dg = b.zeros(c); Tensor db = b.zeros(c);
             Tensor img = TestData.normal(b, 8, 2, 4, 6, c); Tensor w = TestData.normal(b, 9, c, c, 3, 3);
             Tensor dw = TestData.normal(b, 10, c, 1, 5, 5); Tensor yi = b.zeros(2, 4, 6, c); Tensor yi2 = b.zeros(2, 4, 6, c)) {
            b.gelu(x, y);
            out.put("gelu", hash(y));
            b.geluBackward(x, k, y);
            out.put("geluBackward", hash(y));
            b.silu(x, y);
            out.put("silu", hash(y));
            b.siluBackward(x, k, y);
            out.put("siluBackward", hash(y));
            b.softmax(x, y);
            out.put("softmax", hash(y));
            b.softmaxBackward(y, k, dq);
            out.put("softmaxBackward", hash(dq));
            b.layerNorm(x, g, be, 1e-6f, y, mean, rstd);
            out.put("layerNorm", hash(y));
            b.layerNormBackward(x, g, mean, rstd, k, dq, dg, db);
            out.put("layerNormBackward", hash(dq) * 31 + hash(dg));
            try (Tensor m2 = b.zeros(c); Tensor r2 = b.zeros(c)) {
                b.batchNormTrain(x, g, be, 1e-5f, 0.1f, y, m2, r2, null, null);
                out.put("batchNorm", hash(y));
                b.batchNormBackward(x, g, m2, r2, true, k, dq, dg, db);
                out.put("batchNormBackward", hash(dq) * 31 + hash(dg));
            }
            b.sumTo(x, dg, false);
            out.put("sumTo", hash(dg));
            out.put("sumOfSquares", Double.hashCode(b.sumOfSquares(x)));
            out.put("crossEntropy", Double.hashCode(b.crossEntropy(x.reshape(2 * n, c), k.reshape(2 * n, c), dq.reshape(2 * n, c))));
            b.linearAttention().forward(x, k, v, heads, s1, s2, lin, y);
            out.put("linearAttention", hash(y));
            b.linearAttention().backward(x, k, v, heads, s1, s2, lin, y, dq, dk, dv, d1, d2);
            out.put("linearAttentionBackward", ((hash(dq) * 31 + hash(dk)) * 31 + hash(dv)) * 31 + hash(d1));
            b.softmaxAttention().forward(x, k, v, heads, sm, y);
            out.put("softmaxAttention", hash(y));
            b.softmaxAttention().backward(x, k, v, heads, sm, y, dq, dk, dv);
            out.put("softmaxAttentionBackward", (hash(dq) * 31 + hash(dk)) * 31 + hash(dv));
            b.conv2d(img, w, g, 1, 1, yi);
            out.put("conv2d", hash(yi));
            b.depthwiseConv2d(img, dw, g, 2, yi2);
            out.put("depthwiseConv2d", hash(yi2));
            // a weight gradient: few output rows, long K, which the GEMM splits between threads
            try (Tensor a = TestData.normal(b, 11, 3000, 24); Tensor bb = TestData.normal(b, 12, 3000, 40);
                 Tensor cc = b.zeros(24, 40); Tensor big = TestData.normal(b, 13, 300, 70); Tensor w2 = TestData.normal(b, 14, 50, 70);
                 Tensor c2 = b.zeros(300, 50)) {
                b.matmul(a, true, bb, false, cc, 1, 0);
                out.put("matmulLongK", hash(cc));
                b.matmul(big, false, w2, true, c2, 1, 0);
                out.put("matmul", hash(c2));
            }
            
        }
        return out;
    }

    private static int hash(Tensor t) {
        return Arrays.hashCode(t.toArray());
    }
}
