package dev.polaformer.numerics.reference;

/**
 * Activations, softmax, rotary embedding, pooling and the loss, in double. Arrays are contiguous row-major.
 */
public final class PointwiseKernels {
    private PointwiseKernels() {}

    private static final double SQRT1_2 = Math.sqrt(0.5);
    private static final double INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
    private static final double TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

    /**
     * The error function to about 1e-16 relative. Uses erf(x) = 2/√π·e^(−x²)·Σ (2x²)ⁿ·x / (1·3·…·(2n+1)),
     * whose terms are all positive, so no digits cancel; beyond |x| = 6 erf is ±1 in double.
     */
    public static double erf(double x) {
        double ax = Math.abs(x);
        if (ax >= 6) return Math.copySign(1.0, x);
        double x2 = 2 * ax * ax, term = ax, sum = ax;
        for (int n = 1; n < 500; n++) {
            term *= x2 / (2 * n + 1);
            sum += term;
            if (term < 1e-17 * sum) break;
        }
        return Math.copySign(Math.min(1.0, TWO_OVER_SQRT_PI * Math.exp(-ax * ax) * sum), x);
    }

    /** Exact GELU, {@code 0.5·x·(1 + erf(x/√2))}, the formula PyTorch evaluates. */
    public static double gelu(double x) {
        return 0.5 * x * (1 + erf(x * SQRT1_2));
    }

    /** {@code d gelu / dx = Φ(x) + x·φ(x)}. */
    public static double geluGrad(double x) {
        return 0.5 * (1 + erf(x * SQRT1_2)) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x);
    }

    public static double sigmoid(double x) {
        return 1 / (1 + Math.exp(-x));
    }

    public static double silu(double x) {
        return x * sigmoid(x);
    }

    public static double siluGrad(double x) {
        double s = sigmoid(x);
        return s * (1 + x * (1 - s));
    }

    /** Softmax of each row of {@code (rows, n)}. */
    public static void softmax(double[] x, int rows, int n, double[] y) {
        for (int r = 0; r < rows; r++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < n; j++) max = Math.max(max, x[r * n + j]);
            double sum = 0;
            for (int j = 0; j < n; j++) {
                y[r * n + j] = Math.exp(x[r * n + j] - max);
                sum += y[r * n + j];
            }
            for (int j = 0; j < n; j++) y[r * n + j] /= sum;
        }
    }

    public static void softmaxBackward(double[] y, double[] dy, int rows, int n, double[] dx) {
        for (int r = 0; r < rows; r++) {
            double dot = 0;
            for (int j = 0; j < n; j++) dot += dy[r * n + j] * y[r * n + j];
            for (int j = 0; j < n; j++) dx[r * n + j] = y[r * n + j] * (dy[r * n + j] - dot);
        }
    }

    /**
     * Rotary embedding on {@code x (B, N, C)} with tables {@code (N, D)}, {@code D | C}; {@code inverse} applies
     * the transpose (the backward).
     */
    public static void rope(double[] x, int b, int n, int c, double[] sin, double[] cos, int d, boolean inverse,
                            double[] y) {
        for (int p = 0; p < b; p++)
            for (int t = 0; t < n; t++)
                for (int g = 0; g < c; g += d) {
                    int o = (p * n + t) * c + g;
                    rotate(x, o, sin, cos, t * d, d, inverse, y, o);
                }
    }

    /**
     * Rotates the {@code d} values at {@code x[xo..]} with table row {@code sin/cos[to..]} into {@code y[yo..]}
     * ({@code inverse}: by the opposite angles, i.e. the transpose). {@code y} may be {@code x}.
     */
    public static void rotate(double[] x, int xo, double[] sin, double[] cos, int to, int d, boolean inverse,
                              double[] y, int yo) {
        for (int i = 0; i < d; i += 2) {
            double a = x[xo + i], bb = x[xo + i + 1];
            double c0 = cos[to + i], c1 = cos[to + i + 1], s0 = sin[to + i], s1 = sin[to + i + 1];
            if (!inverse) {
                y[yo + i] = a * c0 - bb * s0;
                y[yo + i + 1] = bb * c1 + a * s1;
            } else {
                y[yo + i] = a * c0 + bb * s1;
                y[yo + i + 1] = -a * s0 + bb * c1;
            }
        }
    }

    /** Global average over the N positions of {@code x (B, N, C)} into {@code y (B, C)}. */
    public static void avgPool(double[] x, int b, int n, int c, double[] y) {
        for (int p = 0; p < b; p++)
            for (int ch = 0; ch < c; ch++) {
                double s = 0;
                for (int t = 0; t < n; t++) s += x[(p * n + t) * c + ch];
                y[p * c + ch] = s / n;
            }
    }

    public static void avgPoolBackward(double[] dy, int b, int n, int c, double[] dx) {
        for (int p = 0; p < b; p++)
            for (int t = 0; t < n; t++)
                for (int ch = 0; ch < c; ch++) dx[(p * n + t) * c + ch] = dy[p * c + ch] / n;
    }

    /**
     * Soft-target cross-entropy averaged over the batch; {@code dLogits} (nullable) receives its gradient,
     * {@code (softmax·Σt − t)/B}.
     */
    public static double crossEntropy(double[] logits, double[] targets, int b, int k, double[] dLogits) {
        double loss = 0;
        for (int p = 0; p < b; p++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < k; j++) max = Math.max(max, logits[p * k + j]);
            double sum = 0;
            for (int j = 0; j < k; j++) sum += Math.exp(logits[p * k + j] - max);
            double lse = max + Math.log(sum);
            double tsum = 0;
            for (int j = 0; j < k; j++) {
                loss += targets[p * k + j] * (lse - logits[p * k + j]);
                tsum += targets[p * k + j];
            }
            if (dLogits != null) {
                for (int j = 0; j < k; j++) {
                    dLogits[p * k + j] = (Math.exp(logits[p * k + j] - lse) * tsum - targets[p * k + j]) / b;
                }
            }
        }
        return loss / b;
    }
}
