package dev.polaformer.numerics.reference;

import static dev.polaformer.numerics.reference.PointwiseKernels.rotate;
import static dev.polaformer.numerics.reference.PointwiseKernels.sigmoid;

/**
 * The two attention cores in double, forward next to backward (see
 * {@link dev.polaformer.numerics.LinearAttention} and {@link dev.polaformer.numerics.SoftmaxAttention} for
 * the maths). {@code q, k, v, out} are contiguous {@code (B, N, C)}; head {@code h} owns channels
 * {@code [h·d, (h+1)·d)}.
 */
public final class AttentionKernels {
    private AttentionKernels() {}

    /** The 1e-6 the official code adds to the normaliser z. */
    public static final double Z_EPS = 1e-6;

    // ================================================================ polarity-aware linear attention

    /** Per (batch, head) quantities both passes need: σ1, σ2, κ(k_n), m, the rotated keys and S1, S2. */
    private static final class Keys {
        final double[] sig1, sig2, kappa, m, rotated, s1, s2;

        Keys(double[] k, double[] v, double[] s1raw, double[] s2raw, double[] sin, double[] cos,
             int p, int h, int n, int c, int d) {
            int dd = 2 * d, half = d / 2;
            sig1 = new double[dd];
            sig2 = new double[dd];
            for (int j = 0; j < dd; j++) {
                sig1[j] = sigmoid(s1raw[h * dd + j]);
                sig2[j] = sigmoid(s2raw[h * dd + j]);
            }
            kappa = new double[n * dd];
            rotated = new double[n * dd];
            m = new double[dd];
            s1 = new double[dd * half];
            s2 = new double[dd * half];
            for (int t = 0; t < n; t++) {
                int ko = (p * n + t) * c + h * d;
                for (int i = 0; i < d; i++) {
                    double kv = k[ko + i];
                    kappa[t * dd + i] = Math.exp(Math.max(kv, 0)) - 1;
                    kappa[t * dd + d + i] = Math.exp(Math.max(-kv, 0)) - 1;
                }
                for (int j = 0; j < dd; j++) m[j] += kappa[t * dd + j];
                rotate(kappa, t * dd, sin, cos, t * dd, dd, false, rotated, t * dd);
                int vo = (p * n + t) * c + h * d;
                for (int i = 0; i < dd; i++) {
                    double kr = rotated[t * dd + i];
                    for (int j = 0; j < half; j++) {
                        s1[i * half + j] += kr * v[vo + j];
                        s2[i * half + j] += kr * v[vo + half + j];
                    }
                }
            }
            for (int j = 0; j < dd; j++) m[j] /= n;
            for (int i = 0; i < dd * half; i++) {
                s1[i] /= n;
                s2[i] /= n;
            }
        }
    }

    /** φ(q) for one flow: {@code exp([q⁺,q⁻]⊙σ) − 1} for sim, {@code exp([q⁻,q⁺]⊙σ) − 1} for opp. */
    private static void features(double[] q, int qo, int d, boolean opposite, double[] sig, double[] phi) {
        for (int i = 0; i < d; i++) {
            double pos = Math.max(q[qo + i], 0), neg = Math.max(-q[qo + i], 0);
            double first = opposite ? neg : pos, second = opposite ? pos : neg;
            phi[i] = Math.exp(first * sig[i]) - 1;
            phi[d + i] = Math.exp(second * sig[d + i]) - 1;
        }
    }

    public static void linearForward(double[] q, double[] k, double[] v, int b, int n, int c, int heads,
                                     double[] s1, double[] s2, double[] sin, double[] cos, double[] out) {
        int d = c / heads, dd = 2 * d, half = d / 2;
        double[] phi = new double[dd], rot = new double[dd];
        for (int p = 0; p < b; p++)
            for (int h = 0; h < heads; h++) {
                Keys keys = new Keys(k, v, s1, s2, sin, cos, p, h, n, c, d);
                for (int t = 0; t < n; t++) {
                    int o = (p * n + t) * c + h * d;
                    for (int flow = 0; flow < 2; flow++) {
                        double[] sig = flow == 0 ? keys.sig1 : keys.sig2, s = flow == 0 ? keys.s1 : keys.s2;
                        features(q, o, d, flow == 1, sig, phi);
                        double z = Z_EPS;
                        for (int j = 0; j < dd; j++) z += phi[j] * keys.m[j];
                        rotate(phi, 0, sin, cos, t * dd, dd, false, rot, 0);
                        for (int j = 0; j < half; j++) {
                            double a = 0;
                            for (int i = 0; i < dd; i++) a += rot[i] * s[i * half + j];
                            out[o + flow * half + j] = a / z;
                        }
                    }
                }
            }
    }

    /** Gradients of {@link #linearForward}: dq, dk, dv overwritten; ds1, ds2 accumulated. */
    public static void linearBackward(double[] q, double[] k, double[] v, int b, int n, int c, int heads,
                                      double[] s1, double[] s2, double[] sin, double[] cos, double[] dOut,
                                      double[] dq, double[] dk, double[] dv, double[] ds1, double[] ds2) {
        int d = c / heads, dd = 2 * d, half = d / 2;
        double[] phi = new double[dd], rot = new double[dd], dRot = new double[dd], dPhi = new double[dd];
        for (int p = 0; p < b; p++)
            for (int h = 0; h < heads; h++) {
                Keys keys = new Keys(k, v, s1, s2, sin, cos, p, h, n, c, d);
                double[][] dS = {new double[dd * half], new double[dd * half]};
                double[][] dSig = {new double[dd], new double[dd]};
                double[] dm = new double[dd];
                // Queries: the two flows, token by token.
                for (int t = 0; t < n; t++) {
                    int o = (p * n + t) * c + h * d;
                    for (int i = 0; i < d; i++) dq[o + i] = 0;
                    for (int flow = 0; flow < 2; flow++) {
                        double[] sig = flow == 0 ? keys.sig1 : keys.sig2, s = flow == 0 ? keys.s1 : keys.s2;
                        features(q, o, d, flow == 1, sig, phi);
                        double z = Z_EPS;
                        for (int j = 0; j < dd; j++) z += phi[j] * keys.m[j];
                        rotate(phi, 0, sin, cos, t * dd, dd, false, rot, 0);
                        // out_j = a_j / z with a_j = Σ_i rot_i S_ij
                        double dz = 0;
                        java.util.Arrays.fill(dRot, 0);
                        for (int j = 0; j < half; j++) {
                            double g = dOut[o + flow * half + j];
                            double a = 0;
                            for (int i = 0; i < dd; i++) a += rot[i] * s[i * half + j];
                            dz -= g * a / (z * z);
                            double da = g / z;
                            for (int i = 0; i < dd; i++) {
                                dRot[i] += s[i * half + j] * da;
                                dS[flow][i * half + j] += rot[i] * da;
                            }
                        }
                        rotate(dRot, 0, sin, cos, t * dd, dd, true, dPhi, 0);
                        for (int j = 0; j < dd; j++) {
                            dPhi[j] += dz * keys.m[j];
                            dm[j] += dz * phi[j];
                        }
                        // φ = exp(x⊙σ) − 1 with x = [q⁺,q⁻] (sim) or [q⁻,q⁺] (opp)
                        for (int i = 0; i < d; i++) {
                            double qv = q[o + i];
                            double pos = Math.max(qv, 0), neg = Math.max(-qv, 0);
                            double x0 = flow == 0 ? pos : neg, x1 = flow == 0 ? neg : pos;
                            double g0 = dPhi[i] * (phi[i] + 1), g1 = dPhi[d + i] * (phi[d + i] + 1);
                            dSig[flow][i] += g0 * x0;
                            dSig[flow][d + i] += g1 * x1;
                            double dx0 = g0 * sig[i], dx1 = g1 * sig[d + i];
                            double dPos = flow == 0 ? dx0 : dx1, dNeg = flow == 0 ? dx1 : dx0;
                            if (qv > 0) dq[o + i] += dPos;
                            if (qv < 0) dq[o + i] -= dNeg;
                        }
                    }
                }
                // Keys and values: S = mean_n rot(κ_n) v_nᵀ and m = mean_n κ_n.
                double[] dKr = new double[dd], dKappa = new double[dd];
                for (int t = 0; t < n; t++) {
                    int o = (p * n + t) * c + h * d;
                    for (int i = 0; i < dd; i++) {
                        double acc = 0;
                        for (int j = 0; j < half; j++) {
                            acc += dS[0][i * half + j] * v[o + j] + dS[1][i * half + j] * v[o + half + j];
                        }
                        dKr[i] = acc / n;
                    }
                    for (int j = 0; j < half; j++) {
                        double a1 = 0, a2 = 0;
                        for (int i = 0; i < dd; i++) {
                            a1 += dS[0][i * half + j] * keys.rotated[t * dd + i];
                            a2 += dS[1][i * half + j] * keys.rotated[t * dd + i];
                        }
                        dv[o + j] = a1 / n;
                        dv[o + half + j] = a2 / n;
                    }
                    rotate(dKr, 0, sin, cos, t * dd, dd, true, dKappa, 0);
                    for (int i = 0; i < d; i++) {
                        double kv = k[o + i];
                        double gPos = (dKappa[i] + dm[i] / n) * (keys.kappa[t * dd + i] + 1);
                        double gNeg = (dKappa[d + i] + dm[d + i] / n) * (keys.kappa[t * dd + d + i] + 1);
                        dk[o + i] = (kv > 0 ? gPos : 0) - (kv < 0 ? gNeg : 0);
                    }
                }
                for (int j = 0; j < dd; j++) {
                    ds1[h * dd + j] += dSig[0][j] * keys.sig1[j] * (1 - keys.sig1[j]);
                    ds2[h * dd + j] += dSig[1][j] * keys.sig2[j] * (1 - keys.sig2[j]);
                }
            }
    }

    // ================================================================ softmax attention

    /** Rotated q, k of one (batch, head): {@code (N, d)} each. */
    private static double[][] rotatedQK(double[] q, double[] k, double[] sin, double[] cos,
                                        int p, int h, int n, int c, int d) {
        double[] qr = new double[n * d], kr = new double[n * d];
        for (int t = 0; t < n; t++) {
            int o = (p * n + t) * c + h * d;
            rotate(q, o, sin, cos, t * d, d, false, qr, t * d);
            rotate(k, o, sin, cos, t * d, d, false, kr, t * d);
        }
        return new double[][] {qr, kr};
    }

    /** Attention weights {@code P (N, N)} of one (batch, head). */
    private static double[] weights(double[] qr, double[] kr, int n, int d) {
        double scale = 1 / Math.sqrt(d);
        double[] logits = new double[n * n], pr = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int e = 0; e < d; e++) s += qr[i * d + e] * kr[j * d + e];
                logits[i * n + j] = scale * s;
            }
        PointwiseKernels.softmax(logits, n, n, pr);
        return pr;
    }

    public static void softmaxForward(double[] q, double[] k, double[] v, int b, int n, int c, int heads,
                                      double[] sin, double[] cos, double[] out) {
        int d = c / heads;
        for (int p = 0; p < b; p++)
            for (int h = 0; h < heads; h++) {
                double[][] qk = rotatedQK(q, k, sin, cos, p, h, n, c, d);
                double[] pr = weights(qk[0], qk[1], n, d);
                for (int i = 0; i < n; i++)
                    for (int e = 0; e < d; e++) {
                        double s = 0;
                        for (int j = 0; j < n; j++) s += pr[i * n + j] * v[(p * n + j) * c + h * d + e];
                        out[(p * n + i) * c + h * d + e] = s;
                    }
            }
    }

    public static void softmaxBackward(double[] q, double[] k, double[] v, int b, int n, int c, int heads,
                                       double[] sin, double[] cos, double[] dOut,
                                       double[] dq, double[] dk, double[] dv) {
        int d = c / heads;
        double scale = 1 / Math.sqrt(d);
        for (int p = 0; p < b; p++)
            for (int h = 0; h < heads; h++) {
                double[][] qk = rotatedQK(q, k, sin, cos, p, h, n, c, d);
                double[] qr = qk[0], kr = qk[1];
                double[] pr = weights(qr, kr, n, d);
                double[] dP = new double[n * n], dLogits = new double[n * n];
                for (int i = 0; i < n; i++)
                    for (int j = 0; j < n; j++) {
                        double s = 0;
                        for (int e = 0; e < d; e++) {
                            s += dOut[(p * n + i) * c + h * d + e] * v[(p * n + j) * c + h * d + e];
                        }
                        dP[i * n + j] = s;
                    }
                PointwiseKernels.softmaxBackward(pr, dP, n, n, dLogits);
                double[] dqr = new double[n * d], dkr = new double[n * d];
                for (int i = 0; i < n; i++)
                    for (int j = 0; j < n; j++) {
                        double g = scale * dLogits[i * n + j];
                        for (int e = 0; e < d; e++) {
                            dqr[i * d + e] += g * kr[j * d + e];
                            dkr[j * d + e] += g * qr[i * d + e];
                        }
                    }
                for (int j = 0; j < n; j++)
                    for (int e = 0; e < d; e++) {
                        double s = 0;
                        for (int i = 0; i < n; i++) s += pr[i * n + j] * dOut[(p * n + i) * c + h * d + e];
                        dv[(p * n + j) * c + h * d + e] = s;
                    }
                for (int t = 0; t < n; t++) {
                    int o = (p * n + t) * c + h * d;
                    rotate(dqr, t * d, sin, cos, t * d, d, true, dq, o);
                    rotate(dkr, t * d, sin, cos, t * d, d, true, dk, o);
                }
            }
    }
}
