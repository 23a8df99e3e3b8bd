package dev.polaformer.bench;

/**
 * One benchmarked product, {@code C (batch × m × n) = op(A)·op(B)}, written {@code [batch*]MxNxK:XY} with
 * {@code X}/{@code Y} = {@code N} or {@code T} for the transposes of {@code A} and {@code B}, e.g.
 * {@code 1024x1024x1024:NN} or {@code 32*196x196x32:NT} (8 images · 4 heads of attention scores).
 */
record GemmShape(int batch, int m, int n, int k, boolean transA, boolean transB) {

    static GemmShape parse(String s) {
        try {
            String[] dimsAndLayout = s.trim().split(":");
            String dims = dimsAndLayout[0];
            int batch = 1;
            int star = dims.indexOf('*');
            if (star >= 0) {
                batch = Integer.parseInt(dims.substring(0, star));
                dims = dims.substring(star + 1);
            }
            String[] mnk = dims.split("x");
            String layout = dimsAndLayout.length > 1 ? dimsAndLayout[1] : "NN";
            if (mnk.length != 3 || layout.length() != 2 || !layout.matches("[NT][NT]")) throw new IllegalArgumentException();
            return new GemmShape(batch, Integer.parseInt(mnk[0]), Integer.parseInt(mnk[1]), Integer.parseInt(mnk[2]),
                    layout.charAt(0) == 'T', layout.charAt(1) == 'T');
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("shape '" + s + "' is not [batch*]MxNxK:XY with X, Y in {N, T}");
        }
    }

    /** Floating-point operations of one product (a multiply-add counts two). */
    double flops() {
        return 2.0 * batch * m * n * k;
    }

    int lda() {
        return transA ? m : k;
    }

    int ldb() {
        return transB ? k : n;
    }

    /** For tables: {@code 32 × 196×196×32 NT}. */
    String pretty() {
        return (batch > 1 ? batch + " × " : "") + m + "×" + n + "×" + k + " " + (transA ? "T" : "N") + (transB ? "T" : "N");
    }
}
