package dev.polaformer.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A safetensors file opened for reading: the header is parsed and every entry checked up front (dtype,
 * shape, offsets inside the data and not overlapping), then tensors are read on demand and converted to
 * float32 (from F32, F16, BF16, F64 or the integer types) or to long. Every error names the file and,
 * where there is one, the tensor.
 */
public final class SafetensorsFile implements AutoCloseable {
    /** Headers larger than this are refused (the format's own reference implementation uses 100 MB). */
    public static final long MAX_HEADER_BYTES = 100L << 20;

    /** One tensor's description; offsets are relative to the start of the data section. */
    public record Entry(String name, DType dtype, int[] shape, long begin, long end) {
        public long count() {
            long n = 1;
            for (int d : shape) n *= d;
            return n;
        }

        @Override
        public String toString() {
            return name + " " + dtype + Arrays.toString(shape);
        }
    }

    private final Path path;
    private final FileChannel channel;
    private final long dataStart;
    private final Map<String, Entry> entries;
    private final Map<String, String> metadata;

    private SafetensorsFile(Path path, FileChannel channel, long dataStart, Map<String, Entry> entries,
                            Map<String, String> metadata) {
        this.path = path;
        this.channel = channel;
        this.dataStart = dataStart;
        this.entries = entries;
        this.metadata = metadata;
    }

    public static SafetensorsFile open(Path path) throws IOException {
        FileChannel ch = FileChannel.open(path, StandardOpenOption.READ);
        try {
            return parse(path, ch);
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    private static SafetensorsFile parse(Path path, FileChannel ch) throws IOException {
        long size = ch.size();
        if (size < 8) throw bad(path, "is " + size + " bytes long, too short for a safetensors header");
        ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        readFully(ch, lenBuf, 0);
        long headerLen = lenBuf.getLong(0);
        if (headerLen < 2 || headerLen > MAX_HEADER_BYTES) {
            throw bad(path, "declares a header of " + Long.toUnsignedString(headerLen) + " bytes (allowed: 2 to "
                    + MAX_HEADER_BYTES + ")");
        }
        if (8 + headerLen > size) {
            throw bad(path, "is truncated: its header needs " + headerLen + " bytes but the file has " + (size - 8));
        }
        ByteBuffer hb = ByteBuffer.allocate((int) headerLen);
        readFully(ch, hb, 8);
        Map<String, Object> header;
        try {
            header = Json.parseObject(new String(hb.array(), StandardCharsets.UTF_8));
        } catch (IllegalArgumentException e) {
            throw bad(path, "has a header that is not valid JSON: " + e.getMessage());
        }
        long dataStart = 8 + headerLen, dataLen = size - dataStart;
        Map<String, Entry> entries = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        for (var e : header.entrySet()) {
            if (e.getKey().equals("__metadata__")) {
                if (!(e.getValue() instanceof Map<?, ?> m)) throw bad(path, "has a __metadata__ that is not an object");
                for (var me : m.entrySet()) {
                    if (!(me.getValue() instanceof String v)) {
                        throw bad(path, "has metadata \"" + me.getKey() + "\" that is not a string");
                    }
                    metadata.put(String.valueOf(me.getKey()), v);
                }
                continue;
            }
            entries.put(e.getKey(), entry(path, e.getKey(), e.getValue(), dataLen));
        }
        List<Entry> byOffset = new ArrayList<>(entries.values());
        byOffset.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        for (int i = 1; i < byOffset.size(); i++) {
            Entry a = byOffset.get(i - 1), b = byOffset.get(i);
            if (b.begin < a.end) {
                throw bad(path, "has overlapping tensors: " + a.name + " [" + a.begin + ", " + a.end + ") and "
                        + b.name + " [" + b.begin + ", " + b.end + ")");
            }
        }
        return new SafetensorsFile(path, ch, dataStart, Collections.unmodifiableMap(entries),
                Collections.unmodifiableMap(metadata));
    }

    private static Entry entry(Path path, String name, Object value, long dataLen) {
        if (!(value instanceof Map<?, ?> m)) throw bad(path, "tensor " + name + ": entry is not an object");
        DType dtype = m.get("dtype") instanceof String s ? DType.byName(s) : null;
        if (dtype == null) throw bad(path, "tensor " + name + ": unknown dtype " + m.get("dtype"));
        if (!(m.get("shape") instanceof List<?> shapeList)) throw bad(path, "tensor " + name + ": missing shape");
        int[] shape = new int[shapeList.size()];
        long count = 1;
        for (int i = 0; i < shape.length; i++) {
            if (!(shapeList.get(i) instanceof Long d) || d < 0 || d > Integer.MAX_VALUE) {
                throw bad(path, "tensor " + name + ": bad dimension " + shapeList.get(i));
            }
            shape[i] = (int) (long) d;
            count = Math.multiplyExact(count, d);
        }
        if (!(m.get("data_offsets") instanceof List<?> off) || off.size() != 2
                || !(off.get(0) instanceof Long begin) || !(off.get(1) instanceof Long end)) {
            throw bad(path, "tensor " + name + ": data_offsets must be [begin, end]");
        }
        if (begin < 0 || end < begin || end > dataLen) {
            throw bad(path, "tensor " + name + ": data_offsets [" + begin + ", " + end + ") lie outside the "
                    + dataLen + " data bytes");
        }
        if (end - begin != count * dtype.bytes) {
            throw bad(path, "tensor " + name + ": " + dtype + Arrays.toString(shape) + " needs " + count * dtype.bytes
                    + " bytes but data_offsets give " + (end - begin));
        }
        return new Entry(name, dtype, shape, begin, end);
    }

    public Path path() {
        return path;
    }

    /** Entries in header order. */
    public Map<String, Entry> entries() {
        return entries;
    }

    public Map<String, String> metadata() {
        return metadata;
    }

    public boolean contains(String name) {
        return entries.containsKey(name);
    }

    public Entry entry(String name) {
        Entry e = entries.get(name);
        if (e == null) throw new IllegalArgumentException(path + ": no tensor named " + name);
        return e;
    }

    /** The tensor's elements converted to float32, row-major. */
    public float[] floats(String name) throws IOException {
        Entry e = entry(name);
        if (e.count() > Integer.MAX_VALUE) throw new IllegalArgumentException(path + ": tensor " + e + " is too large");
        int n = (int) e.count();
        ByteBuffer b = bytes(e);
        float[] out = new float[n];
        switch (e.dtype) {
            case F32 -> b.asFloatBuffer().get(out);
            case F64 -> { for (int i = 0; i < n; i++) out[i] = (float) b.getDouble(i * 8); }
            case F16 -> { for (int i = 0; i < n; i++) out[i] = DType.halfToFloat(b.getShort(i * 2)); }
            case BF16 -> { for (int i = 0; i < n; i++) out[i] = DType.bf16ToFloat(b.getShort(i * 2)); }
            case I64 -> { for (int i = 0; i < n; i++) out[i] = b.getLong(i * 8); }
            case I32 -> { for (int i = 0; i < n; i++) out[i] = b.getInt(i * 4); }
            case I16 -> { for (int i = 0; i < n; i++) out[i] = b.getShort(i * 2); }
            case I8 -> { for (int i = 0; i < n; i++) out[i] = b.get(i); }
            case U8, BOOL -> { for (int i = 0; i < n; i++) out[i] = b.get(i) & 0xff; }
        }
        return out;
    }

    /** The tensor's elements as longs; integer types only. */
    public long[] longs(String name) throws IOException {
        Entry e = entry(name);
        int n = (int) e.count();
        ByteBuffer b = bytes(e);
        long[] out = new long[n];
        switch (e.dtype) {
            case I64 -> b.asLongBuffer().get(out);
            case I32 -> { for (int i = 0; i < n; i++) out[i] = b.getInt(i * 4); }
            case I16 -> { for (int i = 0; i < n; i++) out[i] = b.getShort(i * 2); }
            case I8 -> { for (int i = 0; i < n; i++) out[i] = b.get(i); }
            case U8, BOOL -> { for (int i = 0; i < n; i++) out[i] = b.get(i) & 0xff; }
            default -> throw new IllegalArgumentException(path + ": tensor " + e + " is not an integer tensor");
        }
        return out;
    }

    private ByteBuffer bytes(Entry e) throws IOException {
        ByteBuffer b = ByteBuffer.allocate((int) (e.end - e.begin)).order(ByteOrder.LITTLE_ENDIAN);
        readFully(channel, b, dataStart + e.begin);
        return b.flip().order(ByteOrder.LITTLE_ENDIAN);
    }

    private static void readFully(FileChannel ch, ByteBuffer b, long at) throws IOException {
        long pos = at;
        while (b.hasRemaining()) {
            int r = ch.read(b, pos);
            if (r < 0) throw new IOException("unexpected end of file at byte " + pos);
            pos += r;
        }
    }

    private static IllegalArgumentException bad(Path path, String what) {
        return new IllegalArgumentException("safetensors file " + path + " " + what);
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
