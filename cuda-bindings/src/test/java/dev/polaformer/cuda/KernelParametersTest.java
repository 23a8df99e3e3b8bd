package dev.polaformer.cuda;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The kernelParams array KernelModule hands to cuLaunchKernel, built and read back without a GPU. */
class KernelParametersTest {

    @Test
    @SuppressWarnings("restricted")
    void eachArgumentIsAPointerToItsValue() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment device = MemorySegment.ofAddress(0x7f00_1234_5000L);
            MemorySegment p = KernelModule.parameters(arena, "pf_test", device, 7, 2.5f, 1L << 40, 0.125);
            assertEquals(device.address(), slot(p, 0, ValueLayout.ADDRESS.byteSize()).get(ValueLayout.ADDRESS, 0).address());
            assertEquals(7, slot(p, 1, 4).get(ValueLayout.JAVA_INT, 0));
            assertEquals(2.5f, slot(p, 2, 4).get(ValueLayout.JAVA_FLOAT, 0));
            assertEquals(1L << 40, slot(p, 3, 8).get(ValueLayout.JAVA_LONG, 0));
            assertEquals(0.125, slot(p, 4, 8).get(ValueLayout.JAVA_DOUBLE, 0));
        }
    }

    @Test
    void nullsAndOtherTypesAreRejectedNamingTheKernel() {
        try (Arena arena = Arena.ofConfined()) {
            var e = assertThrows(IllegalArgumentException.class, () -> KernelModule.parameters(arena, "pf_gelu", 1, null));
            assertTrue(e.getMessage().startsWith("pf_gelu: argument 1 is null"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> KernelModule.parameters(arena, "pf_gelu", "x"));
            assertTrue(e.getMessage().contains("pf_gelu: argument 0 has unsupported type java.lang.String"), e.getMessage());
        }
    }

    @SuppressWarnings("restricted")
    private static MemorySegment slot(MemorySegment params, int i, long bytes) {
        return params.getAtIndex(ValueLayout.ADDRESS, i).reinterpret(bytes);
    }
}
