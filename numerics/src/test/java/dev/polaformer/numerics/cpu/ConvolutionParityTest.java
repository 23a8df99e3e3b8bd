package dev.polaformer.numerics.cpu;

import dev.polaformer.numerics.Tensor;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static dev.polaformer.numerics.cpu.CpuParity.CPU;
import static dev.polaformer.numerics.cpu.CpuParity.REF;
import static dev.polaformer.numerics.cpu.CpuParity.assertClose;
import static dev.polaformer.numerics.cpu.CpuParity.assertRejects;
import static dev.polaformer.numerics.cpu.CpuParity.assertRejectsReleased;
import static dev.polaformer.numerics.cpu.CpuParity.close;
import static dev.polaformer.numerics.cpu.CpuParity.garbage;
import static dev.polaformer.numerics.cpu.CpuParity.normal;
import static dev.polaformer.numerics.cpu.CpuParity.shape;

/**
 * CPU dense and depthwise convolutions against the reference backend, forward and backward.
 *
 * <p>Tolerances ({@code absOfMax·max|ref| + rel·|ref|}): a dense output or input gradient is a float dot product
 * of {@code K = kh·kw·Cin} terms (up to 576 here) inside the GEMM, whose rounding grows like
 * {@code √K·2⁻²⁴} of the terms' size: {@code 1e-5·max + 1e-4}. The dense weight gradient sums over every
 * output pixel (a long GEMM inner dimension, block products added in double): the same. Depthwise outputs and
 * input gradients are at most 25 float FMAs, and the depthwise weight gradient and all bias gradients are
 * double sums over float blocks of ≤ 64: {@code 2e-6·max + 1e-5}.
 */
class ConvolutionParityTest {

    @BeforeEach // per test, so each is reported as skipped (with the reason) where the backend cannot run
    void backendAvailable() {
        CpuParity.assumeAvailable();
    }

    private static final double GEMM_ABS = 1e-5, GEMM_REL = 1e-4, ABS = 2e-6, REL = 1e-5;

    /** {B, H, W, Cin, Cout, kh, kw, stride, padding}. */
    private static final int[][] DENSE = {
        {2, 5, 6, 3, 7, 3, 3, 1, 1},
        {1, 1, 1, 17, 16, 3, 3, 1, 1},     // one pixel
        {2, 7, 5, 16, 33, 3, 3, 1, 1},     // H ≠ W
        {1, 4, 9, 1, 3, 3, 3, 1, 1},
        {2, 7, 9, 3, 16, 3, 3, 2, 1},      // stride 2, odd sizes
        {1, 5, 5, 64, 7, 3, 3, 2, 1},
        {1, 1, 1, 7, 3, 3, 3, 2, 1},
        {3, 6, 4, 33, 17, 3, 3, 2, 1},
        {2, 5, 7, 17, 33, 1, 1, 1, 0},     // 1×1: a plain GEMM
        {1, 1, 1, 64, 1, 1, 1, 1, 0},
        {2, 7, 6, 16, 5, 1, 1, 2, 0},      // 1×1 stride 2 goes through patches
        {1, 6, 7, 3, 4, 2, 3, 1, 0},       // a non-square kernel
        {1, 6, 7, 5, 4, 5, 3, 1, 2},
        {2, 56, 40, 64, 7, 3, 3, 1, 1},    // several patch blocks, one boundary inside an image
        {1, 50, 50, 1024, 3, 1, 1, 1, 0},  // a 1×1 weight gradient in two pixel blocks
        // the direct path (few output channels): pixel tiles and borders, dx as a convolution (stride 1),
        // weight-gradient tiles, two vectors of output channels, two row segments, 5×5, no padding
        {2, 9, 30, 16, 16, 3, 3, 1, 1},
        {1, 4, 140, 8, 32, 3, 3, 1, 1},
        {2, 11, 29, 3, 16, 3, 3, 2, 1},
        {1, 7, 33, 16, 32, 3, 3, 2, 1},
        {1, 6, 20, 4, 16, 5, 5, 1, 2},
        {1, 8, 26, 16, 16, 3, 3, 1, 0},
    };

    @Test
    void denseForwardAndBackward() {
        long seed = 1;
        for (int[] c : DENSE) {
            int b = c[0], h = c[1], w = c[2], cin = c[3], cout = c[4], kh = c[5], kw = c[6], s = c[7], p = c[8];
            int ho = (h + 2 * p - kh) / s + 1, wo = (w + 2 * p - kw) / s + 1;
            String what = "conv2d " + shape(c);
            Tensor[] x = normal(seed++, b, h, w, cin), wt = normal(seed++, cout, cin, kh, kw);
            Tensor[] bias = normal(seed++, cout), y = garbage(b, ho, wo, cout), y2 = garbage(b, ho, wo, cout);
            REF.conv2d(x[0], wt[0], bias[0], s, p, y[0]);
            CPU.conv2d(x[1], wt[1], bias[1], s, p, y[1]);
            assertClose(what + " y", y, GEMM_ABS, GEMM_REL);
            REF.conv2d(x[0], wt[0], null, s, p, y2[0]);
            CPU.conv2d(x[1], wt[1], null, s, p, y2[1]);
            assertClose(what + " y without bias", y2, GEMM_ABS, GEMM_REL);

            Tensor[] dy = normal(seed++, b, ho, wo, cout), dx = garbage(b, h, w, cin);
            Tensor[] dw = normal(seed++, cout, cin, kh, kw), db = normal(seed++, cout);
            REF.conv2dBackward(x[0], wt[0], dy[0], s, p, dx[0], dw[0], db[0]);
            CPU.conv2dBackward(x[1], wt[1], dy[1], s, p, dx[1], dw[1], db[1]);
            assertClose(what + " dx", dx, GEMM_ABS, GEMM_REL);
            assertClose(what + " dWeight (accumulated)", dw, GEMM_ABS, GEMM_REL);
            assertClose(what + " dBias (accumulated)", db, ABS, REL);

            // each gradient alone
            Tensor[] dx2 = garbage(b, h, w, cin);
            REF.conv2dBackward(x[0], wt[0], dy[0], s, p, dx2[0], null, null);
            CPU.conv2dBackward(x[1], wt[1], dy[1], s, p, dx2[1], null, null);
            assertClose(what + " dx alone", dx2, GEMM_ABS, GEMM_REL);
            REF.conv2dBackward(x[0], wt[0], dy[0], s, p, null, dw[0], null);
            CPU.conv2dBackward(x[1], wt[1], dy[1], s, p, null, dw[1], null);
            assertClose(what + " dWeight alone, accumulated twice", dw, GEMM_ABS, GEMM_REL);
            REF.conv2dBackward(x[0], wt[0], dy[0], s, p, null, null, db[0]);
            CPU.conv2dBackward(x[1], wt[1], dy[1], s, p, null, null, db[1]);
            assertClose(what + " dBias alone, accumulated twice", db, ABS, REL);
            close(x, wt, bias, y, y2, dy, dx, dw, db, dx2);
        }
    }

    /** {B, H, W, C, k, padding}. */
    private static final int[][] DEPTHWISE = {
        {2, 5, 6, 1, 3, 1}, {2, 5, 6, 3, 3, 1}, {1, 4, 7, 7, 3, 1}, {2, 3, 3, 16, 3, 1}, {1, 6, 5, 17, 3, 1},
        {2, 4, 4, 33, 3, 1}, {1, 5, 3, 64, 3, 1},
        {1, 1, 1, 17, 3, 1}, {1, 1, 1, 33, 5, 2},                  // one pixel
        {2, 7, 6, 3, 5, 2}, {1, 5, 9, 17, 5, 2}, {2, 4, 6, 64, 5, 2}, // LEPE's 5×5
        {1, 6, 7, 7, 5, 0}, {1, 6, 7, 16, 5, 1}, {1, 4, 4, 3, 3, 2},  // other paddings: Ho ≠ H
        {8, 56, 56, 16, 3, 1},                                       // weight gradient over 25,088 pixels
    };

    @Test
    void depthwiseForwardAndBackward() {
        long seed = 100;
        for (int[] c : DEPTHWISE) {
            int b = c[0], h = c[1], w = c[2], ch = c[3], k = c[4], p = c[5];
            int ho = h + 2 * p - k + 1, wo = w + 2 * p - k + 1;
            String what = "depthwiseConv2d " + shape(c);
            Tensor[] x = normal(seed++, b, h, w, ch), wt = normal(seed++, ch, 1, k, k), bias = normal(seed++, ch);
            Tensor[] y = garbage(b, ho, wo, ch), y2 = garbage(b, ho, wo, ch);
            REF.depthwiseConv2d(x[0], wt[0], bias[0], p, y[0]);
            CPU.depthwiseConv2d(x[1], wt[1], bias[1], p, y[1]);
            assertClose(what + " y", y, ABS, REL);
            REF.depthwiseConv2d(x[0], wt[0], null, p, y2[0]);
            CPU.depthwiseConv2d(x[1], wt[1], null, p, y2[1]);
            assertClose(what + " y without bias", y2, ABS, REL);

            Tensor[] dy = normal(seed++, b, ho, wo, ch), dx = garbage(b, h, w, ch);
            Tensor[] dw = normal(seed++, ch, 1, k, k), db = normal(seed++, ch);
            REF.depthwiseConv2dBackward(x[0], wt[0], dy[0], p, dx[0], dw[0], db[0]);
            CPU.depthwiseConv2dBackward(x[1], wt[1], dy[1], p, dx[1], dw[1], db[1]);
            assertClose(what + " dx", dx, ABS, REL);
            assertClose(what + " dWeight (accumulated)", dw, ABS, REL);
            assertClose(what + " dBias (accumulated)", db, ABS, REL);

            Tensor[] dx2 = garbage(b, h, w, ch);
            REF.depthwiseConv2dBackward(x[0], wt[0], dy[0], p, dx2[0], null, null);
            CPU.depthwiseConv2dBackward(x[1], wt[1], dy[1], p, dx2[1], null, null);
            assertClose(what + " dx alone", dx2, ABS, REL);
            REF.depthwiseConv2dBackward(x[0], wt[0], dy[0], p, null, dw[0], null);
            CPU.depthwiseConv2dBackward(x[1], wt[1], dy[1], p, null, dw[1], null);
            assertClose(what + " dWeight alone, accumulated twice", dw, ABS, REL);
            close(x, wt, bias, y, y2, dy, dx, dw, db, dx2);
        }
    }

    /**
     * Bias gradients over 25,088 pixels of upstream gradients near 10: no cancellation, so the double sums must
     * land within 2 ulp of the reference; a float running sum over one task's pixels would not. Also the 1×1 weight
     * gradient over those pixels (GEMM tolerance).
     */
    @Test
    void biasGradientsKeepFloatPrecision() {
        int[] s = {8, 56, 56, 16};
        Tensor[] x = normal(300, s), dy = CpuParity.normalWith(301, 10, 1, s);
        Tensor[] w = normal(302, 16, 16, 1, 1), dw = normal(303, 16, 1, 3, 3), db = CpuParity.zeros(16);
        Tensor[] dW = CpuParity.zeros(16, 16, 1, 1);
        REF.conv2dBackward(x[0], w[0], dy[0], 1, 0, null, dW[0], db[0]);
        CPU.conv2dBackward(x[1], w[1], dy[1], 1, 0, null, dW[1], db[1]);
        assertClose("conv2d dBias of gradients near 10", db, 0, 2.4e-7);
        // the 1×1 weight gradient: a GEMM over 25,088 pixels
        assertClose("1×1 conv2d dWeight over 25,088 pixels", dW, GEMM_ABS, GEMM_REL);
        close(dW);
        Tensor[] dbDepthwise = CpuParity.zeros(16);
        REF.depthwiseConv2dBackward(x[0], dw[0], dy[0], 1, null, null, dbDepthwise[0]);
        CPU.depthwiseConv2dBackward(x[1], dw[1], dy[1], 1, null, null, dbDepthwise[1]);
        assertClose("depthwise dBias of gradients near 10", dbDepthwise, 0, 2.4e-7);
        close(x, dy, w, dw, db, dbDepthwise);
    }

    @Test
    void badInputNamesTheOp() {
        Tensor x = CPU.zeros(1, 4, 4, 3), w = CPU.zeros(5, 3, 3, 3), wrongIn = CPU.zeros(5, 4, 3, 3);
        Tensor y = CPU.zeros(1, 4, 4, 5), badY = CPU.zeros(1, 2, 2, 5), bias = CPU.zeros(5);
        assertRejects("conv2d", () -> CPU.conv2d(x, wrongIn, bias, 1, 1, y));
        assertRejects("conv2d", () -> CPU.conv2d(x, w, bias, 1, 1, badY));
        assertRejects("conv2d", () -> CPU.conv2d(x, w, CPU.zeros(4), 1, 1, y));
        assertRejects("conv2dBackward", () -> CPU.conv2dBackward(x, w, y, 1, 1, null, wrongIn, null));
        assertRejects("conv2dBackward", () -> CPU.conv2dBackward(x, w, badY, 1, 1, null, null, null));
        Tensor dw = CPU.zeros(3, 1, 3, 3), nonSquare = CPU.zeros(3, 1, 3, 5), dy = CPU.zeros(1, 4, 4, 3);
        assertRejects("depthwiseConv2d", () -> CPU.depthwiseConv2d(x, nonSquare, null, 1, dy));
        assertRejects("depthwiseConv2d", () -> CPU.depthwiseConv2d(x, dw, null, 2, dy));
        assertRejects("depthwiseConv2dBackward",
                () -> CPU.depthwiseConv2dBackward(x, dw, dy, 1, CPU.zeros(1, 4, 4, 4), null, null));
        assertRejectsReleased("conv2d", CPU.zeros(1, 4, 4, 3), released -> CPU.conv2d(released, w, bias, 1, 1, y));
        assertRejectsReleased("depthwiseConv2dBackward", CPU.zeros(3),
                released -> CPU.depthwiseConv2dBackward(x, dw, dy, 1, null, null, released));
        close(new Tensor[] {x, w, wrongIn, y, badY, bias, dw, nonSquare, dy});
    }
}
