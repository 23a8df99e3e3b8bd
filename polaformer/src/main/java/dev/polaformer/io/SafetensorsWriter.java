package dev.polaformer.io;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Collects tensors (F32, or I64 for counters and labels) and writes them as one safetensors file,
 * atomically: the bytes go to a temporary file beside the target, which is then renamed over it, so a
 * crash never leaves a half-written file under the final name.
 */
public final class SafetensorsWriter {
    private record Item(String name, DType dtype, int[] shape, float[] floats, long[] longs) {
        long bytes() {
            return (long) (floats != null ? floats.length : longs.length) * dtype.bytes;
        }
    }

    private final List<Item> items = new ArrayList<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    public SafetensorsWriter put(String name, float[] data, int... shape) {
        long n = 1;
        for (int d : shape) n *= d;
        if (n != data.length) throw new IllegalArgumentException(name + ": " + data.length + " values for shape "
                + java.util.Arrays.toString(shape));
        items.add(new Item(name, DType.F32, shape.clone(), data, null));
        return this;
    }

    public SafetensorsWriter putLongs(String name, long[] data, int... shape) {
        items.add(new Item(name, DType.I64, shape.clone(), null, data));
        return this;
    }

    public SafetensorsWriter metadata(String key, String value) {
        metadata.put(key, value);
        return this;
    }

    public void write(Path target) throws IOException {
        Map<String, Object> header = new LinkedHashMap<>();
        if (!metadata.isEmpty()) header.put("__metadata__", metadata);
        long offset = 0;
        for (Item it : items) {
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("dtype", it.dtype.name());
            e.put("shape", it.shape);
            e.put("data_offsets", new long[] {offset, offset + it.bytes()});
            if (header.put(it.name, e) != null) throw new IllegalArgumentException("duplicate tensor name " + it.name);
            offset += it.bytes();
        }
        byte[] json = Json.write(header).getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        Path dir = target.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, target.getFileName().toString(), ".tmp");
        try (OutputStream out = Files.newOutputStream(tmp)) {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded);
            out.write(len.array());
            out.write(json);
            for (int i = json.length; i < padded; i++) out.write(' ');
            ByteBuffer chunk = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
            for (Item it : items) {
                int n = it.floats != null ? it.floats.length : it.longs.length;
                for (int i = 0; i < n; i++) {
                    if (chunk.remaining() < 8) {
                        out.write(chunk.array(), 0, chunk.position());
                        chunk.clear();
                    }
                    if (it.floats != null) chunk.putFloat(it.floats[i]); else chunk.putLong(it.longs[i]);
                }
            }
            out.write(chunk.array(), 0, chunk.position());
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
        Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
