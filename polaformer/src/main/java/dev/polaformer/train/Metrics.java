package dev.polaformer.train;

import dev.polaformer.io.Json;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Appends one JSON object per line ({@code type: step} or {@code type: epoch}) and flushes each, so a crash loses nothing. */
public final class Metrics implements AutoCloseable {
    private final Path path;
    private final BufferedWriter out;

    public Metrics(Path path) throws IOException {
        this.path = path;
        this.out = Files.newBufferedWriter(path, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    }

    public Path path() {
        return path;
    }

    public void write(Map<String, Object> record) throws IOException {
        out.write(Json.write(record));
        out.newLine();
        out.flush();
    }

    public static Map<String, Object> record(String type, Object... keyValues) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("type", type);
        for (int i = 0; i + 1 < keyValues.length; i += 2) m.put((String) keyValues[i], keyValues[i + 1]);
        return m;
    }

    /** All records of a metrics file (the last one of each step wins when a resumed run repeated some). */
    public static List<Map<String, Object>> read(Path path) throws IOException {
        List<Map<String, Object>> out = new ArrayList<>();
        if (!Files.exists(path)) return out;
        for (String line : Files.readAllLines(path, StandardCharsets.UTF_8)) {
            if (line.isBlank()) continue;
            try {
                out.add(Json.parseObject(line));
            } catch (IllegalArgumentException e) {
                // a line cut short by a crash: skip it
            }
        }
        return out;
    }

    @Override
    public void close() throws IOException {
        out.close();
    }
}
