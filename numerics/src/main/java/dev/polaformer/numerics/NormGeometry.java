package dev.polaformer.numerics;

/**
 * The sizes of a normalisation over the last dimension, checked: {@code x} is viewed as {@code (rows, channels)}.
 * LayerNorm keeps one statistic per row, BatchNorm one per channel.
 */
public record NormGeometry(int rows, int channels) {

    /** LayerNorm: {@code gamma, beta (C)}, {@code mean, rstd (rows)}; null arguments are not checked. */
    public static NormGeometry rows(String op, Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor mean, Tensor rstd) {
        NormGeometry g = common(op, x, gamma, beta, y);
        if (mean != null) Shapes.requireShape(op, "mean", mean, g.rows);
        if (rstd != null) Shapes.requireShape(op, "rstd", rstd, g.rows);
        return g;
    }

    /** BatchNorm: {@code gamma, beta} and every statistic {@code (C)}; null arguments are not checked. */
    public static NormGeometry columns(String op, Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor... stats) {
        NormGeometry g = common(op, x, gamma, beta, y);
        String[] names = {"mean", "rstd", "runningMean", "runningVar"};
        for (int i = 0; i < stats.length; i++) {
            if (stats[i] == null) continue;
            Shapes.requireShape(op, names[i], stats[i], g.channels);
            Shapes.requireContiguous(op, names[i], stats[i]);
        }
        if (g.rows < 2 && op.equals("batchNormTrain")) {
            throw new IllegalArgumentException(op + ": batch statistics need more than one value per channel, x is "
                    + Shapes.str(x));
        }
        return g;
    }

    private static NormGeometry common(String op, Tensor x, Tensor gamma, Tensor beta, Tensor y) {
        Shapes.requireNonNull(op, "x", x);
        if (x.rank() < 1) throw new IllegalArgumentException(op + ": x must have a channel dimension");
        Shapes.requireContiguous(op, "x", x);
        int c = x.dim(-1), rows = c == 0 ? 0 : x.size() / c;
        Shapes.requireShape(op, "gamma", gamma, c);
        if (beta != null) Shapes.requireShape(op, "beta", beta, c);
        Shapes.requireSameShape(op, "x", x, "y", y);
        Shapes.requireContiguous(op, "y", y);
        return new NormGeometry(rows, c);
    }

    /** Checks the gradient outputs of a normalisation backward (each may be null). */
    public static void requireGrads(String op, Tensor x, Tensor gamma, Tensor dx, Tensor dGamma, Tensor dBeta) {
        if (dx != null) {
            Shapes.requireSameShape(op, "x", x, "dx", dx);
            Shapes.requireContiguous(op, "dx", dx);
        }
        if (dGamma != null) Shapes.requireSameShape(op, "gamma", gamma, "dGamma", dGamma);
        if (dBeta != null) Shapes.requireSameShape(op, "gamma", gamma, "dBeta", dBeta);
    }
}
