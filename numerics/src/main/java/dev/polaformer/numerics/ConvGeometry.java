package dev.polaformer.numerics;

/**
 * The sizes of a convolution, checked: input {@code (b, h, w, cin)}, weight {@code (cout, cin/groups, kh, kw)},
 * output {@code (b, ho, wo, cout)}.
 */
public record ConvGeometry(int b, int h, int w, int cin, int cout, int kh, int kw, int stride, int padding,
                           int ho, int wo) {

    public static ConvGeometry dense(String op, Tensor x, Tensor weight, Tensor bias, int stride, int padding,
                                     Tensor y) {
        Shapes.requireRank(op, "x", x, 4);
        Shapes.requireRank(op, "weight", weight, 4);
        Shapes.requireContiguous(op, "x", x);
        Shapes.requireContiguous(op, "weight", weight);
        int cout = weight.dim(0), cin = x.dim(3);
        if (weight.dim(1) != cin) {
            throw new IllegalArgumentException(op + ": weight " + Shapes.str(weight) + " expects " + weight.dim(1)
                    + " input channels, x " + Shapes.str(x) + " (B,H,W,C) has " + cin);
        }
        return finish(op, x, weight, bias, stride, padding, y, cin, cout, weight.dim(2), weight.dim(3));
    }

    public static ConvGeometry depthwise(String op, Tensor x, Tensor weight, Tensor bias, int padding, Tensor y) {
        Shapes.requireRank(op, "x", x, 4);
        Shapes.requireRank(op, "weight", weight, 4);
        Shapes.requireContiguous(op, "x", x);
        Shapes.requireContiguous(op, "weight", weight);
        int c = x.dim(3);
        if (weight.dim(0) != c || weight.dim(1) != 1 || weight.dim(2) != weight.dim(3)) {
            throw new IllegalArgumentException(op + ": weight must be (C, 1, k, k) with C = " + c + " from x "
                    + Shapes.str(x) + ", got " + Shapes.str(weight));
        }
        return finish(op, x, weight, bias, 1, padding, y, c, c, weight.dim(2), weight.dim(3));
    }

    private static ConvGeometry finish(String op, Tensor x, Tensor weight, Tensor bias, int stride, int padding,
                                       Tensor y, int cin, int cout, int kh, int kw) {
        if (stride < 1 || padding < 0) {
            throw new IllegalArgumentException(op + ": stride " + stride + " and padding " + padding + " are invalid");
        }
        int b = x.dim(0), h = x.dim(1), w = x.dim(2);
        int ho = (h + 2 * padding - kh) / stride + 1, wo = (w + 2 * padding - kw) / stride + 1;
        if (h + 2 * padding < kh || w + 2 * padding < kw) {
            throw new IllegalArgumentException(op + ": input " + Shapes.str(x) + " is smaller than kernel "
                    + Shapes.str(weight) + " with padding " + padding);
        }
        if (bias != null) {
            Shapes.requireShape(op, "bias", bias, cout);
            Shapes.requireContiguous(op, "bias", bias);
        }
        Shapes.requireShape(op, "y", y, b, ho, wo, cout);
        Shapes.requireContiguous(op, "y", y);
        return new ConvGeometry(b, h, w, cin, cout, kh, kw, stride, padding, ho, wo);
    }

    /** Checks the gradient outputs of a convolution backward (each may be null). */
    public static void requireGrads(String op, Tensor x, Tensor weight, Tensor dx, Tensor dWeight, Tensor dBias,
                                    int cout) {
        if (dx != null) {
            Shapes.requireSameShape(op, "x", x, "dx", dx);
            Shapes.requireContiguous(op, "dx", dx);
        }
        if (dWeight != null) {
            Shapes.requireSameShape(op, "weight", weight, "dWeight", dWeight);
            Shapes.requireContiguous(op, "dWeight", dWeight);
        }
        if (dBias != null) {
            Shapes.requireShape(op, "dBias", dBias, cout);
            Shapes.requireContiguous(op, "dBias", dBias);
        }
    }
}
