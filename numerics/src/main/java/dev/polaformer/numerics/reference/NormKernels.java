package dev.polaformer.numerics.reference;

/**
 * LayerNorm and BatchNorm over the last dimension of a {@code (M, C)} array, in double.
 * LayerNorm normalises each row; BatchNorm normalises each column.
 */
public final class NormKernels {
    private NormKernels() {}

    /** {@code mean}, {@code rstd} (length M) may be null. */
    public static void layerNorm(double[] x, int m, int c, double[] gamma, double[] beta, double eps,
                                 double[] y, double[] mean, double[] rstd) {
        for (int r = 0; r < m; r++) {
            double mu = 0;
            for (int j = 0; j < c; j++) mu += x[r * c + j];
            mu /= c;
            double var = 0;
            for (int j = 0; j < c; j++) {
                double d = x[r * c + j] - mu;
                var += d * d;
            }
            var /= c;
            double rs = 1 / Math.sqrt(var + eps);
            for (int j = 0; j < c; j++) y[r * c + j] = (x[r * c + j] - mu) * rs * gamma[j] + beta[j];
            if (mean != null) mean[r] = mu;
            if (rstd != null) rstd[r] = rs;
        }
    }

    public static void layerNormBackward(double[] x, int m, int c, double[] gamma, double[] mean, double[] rstd,
                                         double[] dy, double[] dx, double[] dGamma, double[] dBeta) {
        for (int r = 0; r < m; r++) {
            double mu = mean[r], rs = rstd[r];
            double meanG = 0, meanGX = 0;
            for (int j = 0; j < c; j++) {
                double xhat = (x[r * c + j] - mu) * rs;
                double g = dy[r * c + j] * gamma[j];
                meanG += g;
                meanGX += g * xhat;
                if (dGamma != null) dGamma[j] += dy[r * c + j] * xhat;
                if (dBeta != null) dBeta[j] += dy[r * c + j];
            }
            meanG /= c;
            meanGX /= c;
            if (dx != null) {
                for (int j = 0; j < c; j++) {
                    double xhat = (x[r * c + j] - mu) * rs;
                    dx[r * c + j] = rs * (dy[r * c + j] * gamma[j] - meanG - xhat * meanGX);
                }
            }
        }
    }

    /**
     * Training-mode BatchNorm; writes the batch {@code mean} and {@code rstd} (length C) and, when
     * {@code runningMean}/{@code runningVar} are not null, updates them with the unbiased variance.
     */
    public static void batchNormTrain(double[] x, int m, int c, double[] gamma, double[] beta, double eps,
                                      double momentum, double[] y, double[] mean, double[] rstd,
                                      double[] runningMean, double[] runningVar) {
        for (int j = 0; j < c; j++) {
            double mu = 0;
            for (int r = 0; r < m; r++) mu += x[r * c + j];
            mu /= m;
            double ss = 0;
            for (int r = 0; r < m; r++) {
                double d = x[r * c + j] - mu;
                ss += d * d;
            }
            double var = ss / m;
            double rs = 1 / Math.sqrt(var + eps);
            for (int r = 0; r < m; r++) y[r * c + j] = (x[r * c + j] - mu) * rs * gamma[j] + beta[j];
            mean[j] = mu;
            rstd[j] = rs;
            if (runningMean != null) runningMean[j] = (1 - momentum) * runningMean[j] + momentum * mu;
            if (runningVar != null) runningVar[j] = (1 - momentum) * runningVar[j] + momentum * (ss / (m - 1));
        }
    }

    public static void batchNormEval(double[] x, int m, int c, double[] gamma, double[] beta,
                                     double[] runningMean, double[] runningVar, double eps, double[] y) {
        for (int j = 0; j < c; j++) {
            double rs = 1 / Math.sqrt(runningVar[j] + eps);
            for (int r = 0; r < m; r++) y[r * c + j] = (x[r * c + j] - runningMean[j]) * rs * gamma[j] + beta[j];
        }
    }

    public static void batchNormBackward(double[] x, int m, int c, double[] gamma, double[] mean, double[] rstd,
                                         boolean batchStatistics, double[] dy,
                                         double[] dx, double[] dGamma, double[] dBeta) {
        for (int j = 0; j < c; j++) {
            double mu = mean[j], rs = rstd[j];
            double sumG = 0, sumGX = 0;
            for (int r = 0; r < m; r++) {
                double xhat = (x[r * c + j] - mu) * rs;
                sumG += dy[r * c + j];
                sumGX += dy[r * c + j] * xhat;
            }
            if (dGamma != null) dGamma[j] += sumGX;
            if (dBeta != null) dBeta[j] += sumG;
            if (dx == null) continue;
            for (int r = 0; r < m; r++) {
                double g = dy[r * c + j];
                if (batchStatistics) {
                    double xhat = (x[r * c + j] - mu) * rs;
                    g = g - sumG / m - xhat * sumGX / m;
                }
                dx[r * c + j] = g * gamma[j] * rs;
            }
        }
    }
}
