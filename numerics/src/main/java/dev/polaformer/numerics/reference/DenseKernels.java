package dev.polaformer.numerics.reference;

/**
 * Matrix multiply and convolutions in double, written to be read: the oracle the fast backends are tested
 * against, and the functions the finite-difference checks differentiate. Arrays are contiguous row-major;
 * activations are channels-last {@code (B, H, W, C)}, weights are in PyTorch layout.
 */
public final class DenseKernels {
    private DenseKernels() {}

    /**
     * {@code c[p] = alpha·op(a[p])·op(b[p]) + beta·c[p]} for {@code p < batch}; {@code aBatched}/{@code bBatched}
     * false means one matrix shared by every p. {@code a} is {@code (M,K)}, or {@code (K,M)} when transposed.
     */
    public static void matmul(int batch, int m, int n, int k,
                              double[] a, boolean aBatched, boolean transA,
                              double[] b, boolean bBatched, boolean transB,
                              double[] c, double alpha, double beta) {
        for (int p = 0; p < batch; p++) {
            int ao = aBatched ? p * m * k : 0, bo = bBatched ? p * k * n : 0, co = p * m * n;
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double s = 0;
                    for (int t = 0; t < k; t++) {
                        double av = transA ? a[ao + t * m + i] : a[ao + i * k + t];
                        double bv = transB ? b[bo + j * k + t] : b[bo + t * n + j];
                        s += av * bv;
                    }
                    double old = beta == 0 ? 0 : beta * c[co + i * n + j];
                    c[co + i * n + j] = alpha * s + old;
                }
            }
        }
    }

    /** Output size of a convolution along one axis. */
    public static int outSize(int in, int kernel, int stride, int padding) {
        return (in + 2 * padding - kernel) / stride + 1;
    }

    /** Dense convolution; {@code bias} may be null. {@code y (B,Ho,Wo,Cout)} is overwritten. */
    public static void conv2d(double[] x, int b, int h, int w, int cin,
                              double[] weight, int cout, int kh, int kw, double[] bias,
                              int stride, int pad, double[] y) {
        int ho = outSize(h, kh, stride, pad), wo = outSize(w, kw, stride, pad);
        for (int n = 0; n < b; n++)
            for (int oh = 0; oh < ho; oh++)
                for (int ow = 0; ow < wo; ow++)
                    for (int co = 0; co < cout; co++) {
                        double s = bias == null ? 0 : bias[co];
                        for (int i = 0; i < kh; i++) {
                            int ih = oh * stride - pad + i;
                            if (ih < 0 || ih >= h) continue;
                            for (int j = 0; j < kw; j++) {
                                int iw = ow * stride - pad + j;
                                if (iw < 0 || iw >= w) continue;
                                int xo = ((n * h + ih) * w + iw) * cin;
                                for (int ci = 0; ci < cin; ci++) {
                                    s += x[xo + ci] * weight[((co * cin + ci) * kh + i) * kw + j];
                                }
                            }
                        }
                        y[((n * ho + oh) * wo + ow) * cout + co] = s;
                    }
    }

    /** Gradients of {@link #conv2d}: {@code dx} overwritten, {@code dWeight}/{@code dBias} accumulated; any may be null. */
    public static void conv2dBackward(double[] x, int b, int h, int w, int cin,
                                      double[] weight, int cout, int kh, int kw,
                                      int stride, int pad, double[] dy,
                                      double[] dx, double[] dWeight, double[] dBias) {
        int ho = outSize(h, kh, stride, pad), wo = outSize(w, kw, stride, pad);
        if (dx != null) java.util.Arrays.fill(dx, 0);
        for (int n = 0; n < b; n++)
            for (int oh = 0; oh < ho; oh++)
                for (int ow = 0; ow < wo; ow++)
                    for (int co = 0; co < cout; co++) {
                        double g = dy[((n * ho + oh) * wo + ow) * cout + co];
                        if (dBias != null) dBias[co] += g;
                        for (int i = 0; i < kh; i++) {
                            int ih = oh * stride - pad + i;
                            if (ih < 0 || ih >= h) continue;
                            for (int j = 0; j < kw; j++) {
                                int iw = ow * stride - pad + j;
                                if (iw < 0 || iw >= w) continue;
                                int xo = ((n * h + ih) * w + iw) * cin;
                                for (int ci = 0; ci < cin; ci++) {
                                    int wi = ((co * cin + ci) * kh + i) * kw + j;
                                    if (dx != null) dx[xo + ci] += g * weight[wi];
                                    if (dWeight != null) dWeight[wi] += g * x[xo + ci];
                                }
                            }
                        }
                    }
    }

    /** Depthwise convolution, stride 1, weight {@code (C,1,k,k)}; {@code bias} may be null. */
    public static void depthwiseConv2d(double[] x, int b, int h, int w, int c,
                                       double[] weight, int k, double[] bias, int pad, double[] y) {
        int ho = outSize(h, k, 1, pad), wo = outSize(w, k, 1, pad);
        for (int n = 0; n < b; n++)
            for (int oh = 0; oh < ho; oh++)
                for (int ow = 0; ow < wo; ow++)
                    for (int ch = 0; ch < c; ch++) {
                        double s = bias == null ? 0 : bias[ch];
                        for (int i = 0; i < k; i++) {
                            int ih = oh - pad + i;
                            if (ih < 0 || ih >= h) continue;
                            for (int j = 0; j < k; j++) {
                                int iw = ow - pad + j;
                                if (iw < 0 || iw >= w) continue;
                                s += x[((n * h + ih) * w + iw) * c + ch] * weight[(ch * k + i) * k + j];
                            }
                        }
                        y[((n * ho + oh) * wo + ow) * c + ch] = s;
                    }
    }

    /** Gradients of {@link #depthwiseConv2d}: {@code dx} overwritten, {@code dWeight}/{@code dBias} accumulated. */
    public static void depthwiseConv2dBackward(double[] x, int b, int h, int w, int c,
                                               double[] weight, int k, int pad, double[] dy,
                                               double[] dx, double[] dWeight, double[] dBias) {
        int ho = outSize(h, k, 1, pad), wo = outSize(w, k, 1, pad);
        if (dx != null) java.util.Arrays.fill(dx, 0);
        for (int n = 0; n < b; n++)
            for (int oh = 0; oh < ho; oh++)
                for (int ow = 0; ow < wo; ow++)
                    for (int ch = 0; ch < c; ch++) {
                        double g = dy[((n * ho + oh) * wo + ow) * c + ch];
                        if (dBias != null) dBias[ch] += g;
                        for (int i = 0; i < k; i++) {
                            int ih = oh - pad + i;
                            if (ih < 0 || ih >= h) continue;
                            for (int j = 0; j < k; j++) {
                                int iw = ow - pad + j;
                                if (iw < 0 || iw >= w) continue;
                                int xi = ((n * h + ih) * w + iw) * c + ch, wi = (ch * k + i) * k + j;
                                if (dx != null) dx[xi] += g * weight[wi];
                                if (dWeight != null) dWeight[wi] += g * x[xi];
                            }
                        }
                    }
    }
}
