package dev.polaformer.numerics.cpu;

import static dev.polaformer.numerics.cpu.SgemmMicroKernel.NR;

/**
 * The right operand {@code op(B)} ({@code k × n}) of {@link Sgemm} packed once, for a weight that many calls
 * multiply by: micro-panel {@code q} (columns {@code [q·NR, q·NR + NR)}, zeros past {@code n}) holds, for each
 * {@code p < k}, the {@code NR} values of row {@code p}, at {@code panels[q·k·NR + p·NR ..]}. That is exactly
 * what {@link Sgemm} packs per call when all of {@code B} fits one super-block, so its loops read either alike.
 *
 * @param panels {@code ceil(n / NR) · k · NR} floats
 */
record PackedRight(int k, int n, float[] panels) {
    /**
     * Packs {@code op(B)}: {@code B} stored {@code (n, k)} and used transposed when {@code transB}, else stored
     * {@code (k, n)}; {@code ldb} its row stride.
     */
    static PackedRight pack(boolean transB, int k, int n, float[] b, int bOff, int ldb) {
        int panels = (n + NR - 1) / NR;
        float[] out = new float[Math.max(1, panels * k * NR)];
        for (int q = 0; q < panels; q++) SgemmPacking.packB(transB, b, bOff, ldb, n, q * NR, 0, k, out, q * k * NR);
        return new PackedRight(k, n, out);
    }
}
