package dev.polaformer.numerics.cpu;

import dev.polaformer.numerics.Tensor;

/**
 * Soft-target cross-entropy {@code mean_b Σ_c −t_bc·log_softmax(l_b)_c} and its gradient
 * {@code (softmax(l_b)·Σ_c t_bc − t_b)/B}, computed in double.
 *
 * <p>The loss of a confident, correct prediction is a small difference of large terms ({@code log Σ exp} against
 * the true logit), so float exponentials would cost it most of its digits; and the work is one row of a
 * thousand classes per sample, negligible next to the network. So this is scalar double arithmetic with
 * {@link Math#exp}, one row per task, and the row losses are added in row order.
 */
final class CrossEntropy {
    private CrossEntropy() {}

    /** Double scratch slot for a row's exponentials. */
    private static final int SLOT = 2;

    static double run(Parallel parallel, float[] l, Tensor logits, float[] t, Tensor targets, float[] g, Tensor grad) {
        int b = logits.dim(0), k = logits.dim(1);
        if (b == 0) return Double.NaN; // the mean of nothing, as the reference's 0/0
        double[] rowLoss = Scratch.takeDoubles(b);
        try {
            parallel.forRange(b, Math.max(1, 4096 / Math.max(1, k)), (r0, r1) -> {
                double[] e = Scratch.doubles(SLOT, k);
                for (int r = r0; r < r1; r++) {
                    int lo = logits.offset() + r * logits.stride(0), ls = logits.stride(1);
                    int to = targets.offset() + r * targets.stride(0), ts = targets.stride(1);
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < k; j++) max = Math.max(max, l[lo + j * ls]);
                    double sum = 0;
                    for (int j = 0; j < k; j++) {
                        e[j] = Math.exp(l[lo + j * ls] - max);
                        sum += e[j];
                    }
                    double lse = max + Math.log(sum);
                    double loss = 0, tsum = 0;
                    for (int j = 0; j < k; j++) {
                        double tj = t[to + j * ts];
                        loss += tj * (lse - l[lo + j * ls]);
                        tsum += tj;
                    }
                    rowLoss[r] = loss;
                    if (g != null) {
                        int go = grad.offset() + r * grad.stride(0), gs = grad.stride(1);
                        double scale = tsum / sum;
                        for (int j = 0; j < k; j++) g[go + j * gs] = (float) ((e[j] * scale - t[to + j * ts]) / b);
                    }
                }
            });
            double loss = 0;
            for (int r = 0; r < b; r++) loss += rowLoss[r];
            return loss / b;
        } finally {
            Scratch.give(rowLoss);
        }
    }
}
