package dev.polaformer.numerics;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TensorTest {
    private final Backend backend = Backends.get("reference");

    private Tensor iota(int... shape) {
        float[] v = new float[(int) Shapes.checkedSize(shape)];
        for (int i = 0; i < v.length; i++) v[i] = i;
        return backend.fromArray(v, shape);
    }

    @Test
    void permuteTurnsNchwIntoNhwcWithoutCopying() {
        try (Tensor nchw = iota(1, 2, 2, 3)) {
            Tensor nhwc = nchw.permute(0, 2, 3, 1);
            assertArrayEquals(new int[] {1, 2, 3, 2}, nhwc.shape());
            assertFalse(nhwc.isContiguous());
            // pixel (0,0) holds channel values 0 and 6, pixel (0,1) holds 1 and 7, ...
            assertArrayEquals(new float[] {0, 6, 1, 7, 2, 8, 3, 9, 4, 10, 5, 11}, nhwc.toArray());
            try (Tensor copy = backend.empty(1, 2, 3, 2)) {
                backend.copy(nhwc, copy);
                assertArrayEquals(nhwc.toArray(), copy.toArray());
            }
        }
    }

    @Test
    void columnSlicesFlattenToStridedMatrices() {
        try (Tensor qkvg = iota(2, 3, 8)) {               // (B, N, 4C) with C = 2
            Tensor k = qkvg.narrow(2, 2, 2);              // (B, N, C), row stride 8
            assertArrayEquals(new float[] {2, 3, 10, 11, 18, 19, 26, 27, 34, 35, 42, 43}, k.toArray());
            Tensor rows = k.reshape(6, 2);
            assertEquals(8, rows.stride(0));
            assertArrayEquals(k.toArray(), rows.toArray());
            assertThrows(IllegalStateException.class, () -> k.reshape(12), "cannot flatten across the gap");
            assertArrayEquals(new float[] {34, 35}, k.select(0, 1).select(0, 1).toArray());
        }
    }

    @Test
    void reshapeInfersOneDimension() {
        try (Tensor t = iota(2, 3, 4)) {
            assertArrayEquals(new int[] {6, 4}, t.reshape(-1, 4).shape());
            assertThrows(IllegalArgumentException.class, () -> t.reshape(5, -1));
            assertThrows(IllegalArgumentException.class, () -> t.reshape(-1, -1));
        }
    }

    @Test
    void useAfterReleaseFailsEvenThroughViews() {
        Tensor t = iota(2, 2);
        Tensor view = t.reshape(4);
        t.close();
        assertTrue(view.isReleased());
        var e = assertThrows(IllegalStateException.class, view::toArray);
        assertTrue(e.getMessage().contains("released"), e.getMessage());
        var e2 = assertThrows(IllegalStateException.class, () -> backend.gelu(view, view));
        assertTrue(e2.getMessage().contains("released"), e2.getMessage());
        view.close(); // a view's close is harmless
    }

    @Test
    void releasedMemoryIsReusedButNeverVisibleThroughTheOldTensor() {
        Backend cpu = Backends.get("cpu");
        Tensor a = cpu.fromArray(new float[] {1, 2, 3}, 3);
        a.close();
        try (Tensor b = cpu.zeros(3)) {
            assertArrayEquals(new float[3], b.toArray(), "pooled memory comes back zeroed from zeros()");
            assertThrows(IllegalStateException.class, a::toArray);
        }
    }

    @Test
    void tensorsFromAnotherBackendAreRefused() {
        try (Tensor x = Backends.get("cpu").zeros(4); Tensor y = backend.zeros(4)) {
            var e = assertThrows(IllegalArgumentException.class, () -> backend.gelu(x, y));
            assertTrue(e.getMessage().contains("gelu") && e.getMessage().contains("'cpu'"), e.getMessage());
        }
    }

    @Test
    void badShapesNameTheOp() {
        try (Tensor a = iota(2, 3); Tensor b = iota(4, 2); Tensor c = backend.zeros(2, 2)) {
            var e = assertThrows(IllegalArgumentException.class, () -> backend.matmul(a, false, b, false, c, 1, 0));
            assertTrue(e.getMessage().startsWith("matmul") && e.getMessage().contains("[2, 3]"), e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> backend.zeros(1 << 16, 1 << 16));
    }
}
