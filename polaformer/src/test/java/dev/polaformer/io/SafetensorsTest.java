package dev.polaformer.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SafetensorsTest {
    @TempDir
    Path dir;

    /** A file with the given header JSON and {@code dataBytes} bytes of data. */
    private Path file(String header, int dataBytes) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        Path p = dir.resolve("t" + System.nanoTime() + ".safetensors");
        Files.write(p, b.array());
        return p;
    }

    private static String fails(Path p) {
        return assertThrows(IllegalArgumentException.class, () -> SafetensorsFile.open(p).close()).getMessage();
    }

    @Test
    void roundTripKeepsValuesNamesOrderAndMetadata() throws IOException {
        Path p = dir.resolve("w.safetensors");
        float[] a = {1.5f, -2f, Float.MIN_VALUE, 3e38f, -0f, 7};
        new SafetensorsWriter().metadata("format", "pt").put("z.weight", a, 2, 3).putLongs("a.count", new long[] {42})
                .put("scalar", new float[] {9}).write(p);
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertEquals(java.util.List.of("z.weight", "a.count", "scalar"), java.util.List.copyOf(f.entries().keySet()));
            assertArrayEquals(a, f.floats("z.weight"));
            assertArrayEquals(new int[] {2, 3}, f.entry("z.weight").shape());
            assertArrayEquals(new long[] {42}, f.longs("a.count"));
            assertArrayEquals(new int[0], f.entry("scalar").shape());
            assertEquals("pt", f.metadata().get("format"));
        }
        long headerLength = ByteBuffer.wrap(Files.readAllBytes(p), 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(0, headerLength % 8, "header padded to a multiple of 8 bytes");
    }

    @Test
    void halfAndBfloat16AreConvertedExactly() throws IOException {
        // 1.0, -2.0, 0.5 in IEEE half: 0x3c00, 0xc000, 0x3800; in bfloat16: 0x3f80, 0xc000, 0x3f00
        String header = "{\"h\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,6]},"
                + "\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[6,12]}}";
        byte[] hb = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer buf = ByteBuffer.allocate(8 + hb.length + 12).order(ByteOrder.LITTLE_ENDIAN);
        buf.putLong(hb.length).put(hb);
        for (int v : new int[] {0x3c00, 0xc000, 0x3800, 0x3f80, 0xc000, 0x3f00}) buf.putShort((short) v);
        Path p = dir.resolve("half.safetensors");
        Files.write(p, buf.array());
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertArrayEquals(new float[] {1, -2, 0.5f}, f.floats("h"));
            assertArrayEquals(new float[] {1, -2, 0.5f}, f.floats("b"));
        }
    }

    @Test
    void truncatedFileIsRefused() throws IOException {
        Path p = dir.resolve("short.safetensors");
        Files.write(p, new byte[] {1, 2, 3});
        assertTrue(fails(p).contains("too short"), fails(p));
        Path q = file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
        byte[] all = Files.readAllBytes(q);
        Files.write(q, java.util.Arrays.copyOf(all, 20));
        String m = fails(q);
        assertTrue(m.contains("truncated") && m.contains(q.toString()), m);
    }

    @Test
    void oversizedHeaderIsRefused() throws IOException {
        ByteBuffer b = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(1L << 40).putLong(0);
        Path p = dir.resolve("huge.safetensors");
        Files.write(p, b.array());
        assertTrue(fails(p).contains("header of"), fails(p));
    }

    @Test
    void overlappingOffsetsAreRefused() throws IOException {
        String m = fails(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12));
        assertTrue(m.contains("overlapping") && m.contains("a") && m.contains("b"), m);
    }

    @Test
    void offsetsOutsideTheDataAreRefused() throws IOException {
        String m = fails(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4));
        assertTrue(m.contains("tensor a") && m.contains("outside"), m);
    }

    @Test
    void sizeThatDisagreesWithDtypeAndShapeIsRefused() throws IOException {
        String m = fails(file("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8));
        assertTrue(m.contains("tensor w") && m.contains("needs 12 bytes"), m);
    }

    @Test
    void unknownDtypeAndBadJsonAreRefused() throws IOException {
        assertTrue(fails(file("{\"w\":{\"dtype\":\"F8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1)).contains("unknown dtype"));
        assertTrue(fails(file("{\"w\":", 0)).contains("not valid JSON"));
    }
}
