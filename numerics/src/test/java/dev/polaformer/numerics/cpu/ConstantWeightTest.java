package dev.polaformer.numerics.cpu;

import dev.polaformer.numerics.HeapMemory;
import dev.polaformer.numerics.Tensor;
import dev.polaformer.numerics.TestData;
import org.junit.jupiter.api.Test;

import static dev.polaformer.numerics.Closeness.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * Constant weights ({@link CpuBackend#constant}) are multiplied through panels packed once: the products and
 * convolutions must equal those with the same weight as an ordinary tensor (the packing is the same copy, so
 * bit for bit), on shapes with edges (not multiples of the tile), batched left operands, several k-blocks, and
 * on repeated calls (the kept panels).
 */
class ConstantWeightTest {
    private final CpuBackend cpu = new CpuBackend(2);

    @Test
    void productsWithAConstantRightOperandEqualThoseWithAnOrdinaryOne() {
        int[][] shapes = {{1, 1, 1}, {1, 1000, 2048}, {5, 33, 17}, {49, 1536, 384}, {13, 40, 600}, {300, 70, 31}};
        long seed = 1;
        for (int[] s : shapes) {
            int m = s[0], n = s[1], k = s[2];
            for (boolean transB : new boolean[] {true, false}) {
                try (Tensor a = TestData.normal(cpu, seed++, m, k);
                     Tensor b = transB ? TestData.normal(cpu, seed++, n, k) : TestData.normal(cpu, seed++, k, n);
                     Tensor constant = cpu.constant(b); Tensor want = cpu.empty(m, n); Tensor got = cpu.empty(m, n)) {
                    cpu.matmul(a, false, b, transB, want, 1f, 0f);
                    for (int call = 0; call < 2; call++) {
                        cpu.matmul(a, false, constant, transB, got, 1f, 0f);
                        assertArrayEquals(want.toArray(), got.toArray(), "matmul " + m + "×" + n + "×" + k + " call " + call);
                    }
                }
            }
        }
    }

    @Test
    void linearWithAConstantWeightAddsTheBiasAsTheSeparateAddWould() {
        // one k-block (direct and edge tiles), several k-blocks, k split across tasks (few rows, long k)
        int[][] shapes = {{1, 1, 1}, {3136, 112, 32}, {49, 1536, 384}, {4, 384, 1344}, {27, 45, 600}, {1, 1000, 2048}};
        long seed = 50;
        for (int[] s : shapes) {
            int m = s[0], n = s[1], k = s[2];
            try (Tensor x = TestData.normal(cpu, seed++, m, k); Tensor w = TestData.normal(cpu, seed++, n, k);
                 Tensor bias = TestData.normal(cpu, seed++, n); Tensor constant = cpu.constant(w);
                 Tensor want = cpu.empty(m, n); Tensor got = cpu.empty(m, n)) {
                cpu.matmul(x, false, w, true, want, 1f, 0f);
                cpu.add(want, bias, want);
                for (int call = 0; call < 2; call++) {
                    cpu.linear(x, constant, bias, got);
                    assertArrayEquals(want.toArray(), got.toArray(), "linear " + m + "×" + n + "×" + k);
                }
                cpu.linear(x, w, bias, got);
                assertArrayEquals(want.toArray(), got.toArray(), "linear, ordinary weight " + m + "×" + n + "×" + k);
                cpu.gelu(want, want);
                cpu.linearGelu(x, constant, bias, got);
                assertArrayEquals(want.toArray(), got.toArray(), "linearGelu " + m + "×" + n + "×" + k);
                cpu.linearGelu(x, w, bias, got);
                assertArrayEquals(want.toArray(), got.toArray(), "linearGelu, ordinary weight " + m + "×" + n + "×" + k);
            }
        }
        try (Tensor x = TestData.normal(cpu, 1, 5, 7); Tensor w = cpu.constant(TestData.normal(cpu, 2, 9, 7));
             Tensor bias = TestData.normal(cpu, 3, 8); Tensor y = cpu.empty(5, 9)) {
            var e = assertThrows(IllegalArgumentException.class, () -> cpu.linear(x, w, bias, y));
            org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("linear"), e.getMessage());
        }
    }

    /**
     * With {@value PackedRight#BF16_PROPERTY}, a constant weight packed from then on is kept in bfloat16: a linear
     * layer and a 3×3 convolution by it equal the ordinary ones by the weight rounded to bfloat16.
     */
    @Test
    void bf16ConstantsMultiplyAsTheirRoundedWeights() {
        String before = System.getProperty(PackedRight.BF16_PROPERTY);
        System.setProperty(PackedRight.BF16_PROPERTY, "true");
        try (Tensor x = TestData.normal(cpu, 60, 49, 384); Tensor w = TestData.normal(cpu, 61, 130, 384);
             Tensor bias = TestData.normal(cpu, 62, 130); Tensor constant = cpu.constant(w);
             Tensor rounded = cpu.fromArray(bf16(w.toArray()), 130, 384);
             Tensor want = cpu.empty(49, 130); Tensor got = cpu.empty(49, 130);
             Tensor image = TestData.normal(cpu, 63, 1, 9, 9, 16); Tensor filter = TestData.normal(cpu, 64, 24, 16, 3, 3);
             Tensor constantFilter = cpu.constant(filter); Tensor roundedFilter = cpu.fromArray(bf16(filter.toArray()), 24, 16, 3, 3);
             Tensor wantMap = cpu.empty(1, 9, 9, 24); Tensor gotMap = cpu.empty(1, 9, 9, 24)) {
            cpu.linear(x, rounded, bias, want);
            cpu.linear(x, constant, bias, got);
            assertArrayEquals(want.toArray(), got.toArray(), "linear by a bf16 constant");
            cpu.conv2d(image, roundedFilter, null, 1, 1, wantMap);
            cpu.conv2d(image, constantFilter, null, 1, 1, gotMap);
            assertClose("conv2d by a bf16 constant", wantMap.toArray(), gotMap.toArray(), 1e-5, 1e-5);
        } finally {
            if (before == null) System.clearProperty(PackedRight.BF16_PROPERTY); else System.setProperty(PackedRight.BF16_PROPERTY, before);
        }
    }

    private static float[] bf16(float[] v) {
        float[] out = new float[v.length];
        for (int i = 0; i < v.length; i++) out[i] = Float.intBitsToFloat(PackedRight.toBf16(v[i]) << 16);
        return out;
    }

    @Test
    void batchedLeftOperandsAndAlphaBeta() {
        try (Tensor a = TestData.normal(cpu, 7, 3, 25, 40); Tensor b = TestData.normal(cpu, 8, 45, 40);
             Tensor constant = cpu.constant(b); Tensor want = TestData.normal(cpu, 9, 3, 25, 45);
             Tensor got = cpu.empty(3, 25, 45)) {
            cpu.copy(want, got);
            cpu.matmul(a, false, b, true, want, 0.5f, 2f);
            cpu.matmul(a, false, constant, true, got, 0.5f, 2f);
            assertClose("batched matmul", TestData.widen(want.toArray()), got.toArray(), 1e-6, 1e-6);
        }
    }

    @Test
    void convolutionsWithAConstantWeightEqualThoseWithAnOrdinaryOne() {
        // {batch, size, cin, cout, kernel, stride, padding}: pointwise (head, projection), strided 3×3
        // (downsampling), and the stem's direct path
        int[][] cases = {{1, 1, 2048, 1000, 1, 1, 0}, {2, 5, 24, 40, 1, 1, 0}, {1, 14, 128, 384, 3, 2, 1},
                {2, 9, 16, 33, 3, 2, 1}, {1, 20, 3, 16, 3, 2, 1}};
        long seed = 100;
        for (int[] c : cases) {
            int b = c[0], size = c[1], cin = c[2], cout = c[3], kernel = c[4], stride = c[5], pad = c[6];
            int out = (size + 2 * pad - kernel) / stride + 1;
            try (Tensor x = TestData.normal(cpu, seed++, b, size, size, cin);
                 Tensor w = TestData.normal(cpu, seed++, cout, cin, kernel, kernel);
                 Tensor bias = TestData.normal(cpu, seed++, cout); Tensor constant = cpu.constant(w);
                 Tensor want = cpu.empty(b, out, out, cout); Tensor got = cpu.empty(b, out, out, cout)) {
                cpu.conv2d(x, w, bias, stride, pad, want);
                for (int call = 0; call < 2; call++) {
                    cpu.conv2d(x, constant, bias, stride, pad, got);
                    assertArrayEquals(want.toArray(), got.toArray(), "conv2d " + java.util.Arrays.toString(c));
                }
            }
        }
    }

    @Test
    void aConstantCannotBeWrittenAndKeepsOneLayout() {
        try (Tensor w = TestData.normal(cpu, 3, 40, 30); Tensor constant = cpu.constant(w)) {
            assertThrows(IllegalStateException.class, () -> constant.storage().write(0, new float[1], 0, 1));
            assertArrayEquals(w.toArray(), constant.toArray());
            var storage = (dev.polaformer.numerics.HeapStorage) constant.storage();
            PackedRight first = CpuMatmul.packed(storage, constant, true, 30, 40);
            assertSame(first, CpuMatmul.packed(storage, constant, true, 30, 40), "packed once, then kept");
        }
    }

    @Test
    void anOrdinaryTensorKeepsNoLayout() {
        HeapMemory memory = new HeapMemory("cpu");
        try (Tensor t = memory.empty(4)) {
            var storage = (dev.polaformer.numerics.HeapStorage) t.storage();
            assertThrows(IllegalStateException.class, () -> storage.keepDerived("x", new Object()));
        }
    }
}
