package dev.polaformer.io;

import dev.polaformer.model.Counter;
import dev.polaformer.model.Module;
import dev.polaformer.model.Parameter;
import dev.polaformer.model.StateEntry;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** Loads a module's state from a {@link TensorSource} by official state-dict key, and saves it as safetensors. */
public final class Weights {
    private Weights() {}

    /** What a load found: keys the model has that the file lacks, keys the file has that the model lacks, and shape mismatches. */
    public record Report(List<String> missing, List<String> unexpected, List<String> mismatched, int loaded) {
        public boolean clean() {
            return missing.isEmpty() && unexpected.isEmpty() && mismatched.isEmpty();
        }

        public String describe() {
            StringBuilder b = new StringBuilder();
            if (!missing.isEmpty()) b.append(missing.size()).append(" missing: ").append(missing).append('\n');
            if (!unexpected.isEmpty()) b.append(unexpected.size()).append(" unexpected: ").append(unexpected).append('\n');
            if (!mismatched.isEmpty()) b.append(mismatched.size()).append(" with the wrong shape: ").append(mismatched).append('\n');
            return b.toString().strip();
        }
    }

    /**
     * Copies every entry of {@code module}'s state dict from {@code source}, whose keys may carry {@code prefix}.
     * Strict (the default everywhere): any missing key, unexpected key or shape mismatch fails, listing all of them
     * by name, and nothing is changed. Non-strict: loads what matches and reports the rest.
     */
    public static Report load(Module module, TensorSource source, String prefix, boolean strict) throws IOException {
        Map<String, StateEntry> state = module.stateDict();
        Set<String> fileKeys = new LinkedHashSet<>();
        for (String n : source.names()) if (n.startsWith(prefix)) fileKeys.add(n.substring(prefix.length()));
        List<String> missing = new ArrayList<>(), mismatched = new ArrayList<>();
        for (var e : state.entrySet()) {
            String key = e.getKey();
            if (!fileKeys.remove(key)) {
                missing.add(key);
                continue;
            }
            int[] want = e.getValue().shape(), got = source.shape(prefix + key);
            boolean ok = Arrays.equals(want, got)
                    || e.getValue() instanceof Counter && got.length <= 1 && (got.length == 0 || got[0] == 1);
            if (!ok) mismatched.add(key + " (model " + Arrays.toString(want) + ", file " + Arrays.toString(got) + ")");
        }
        Report report = new Report(missing, new ArrayList<>(fileKeys), mismatched, 0);
        if (strict && !report.clean()) {
            throw new IllegalArgumentException("weights in " + source.describe() + " do not fit the model:\n"
                    + report.describe());
        }
        int loaded = 0;
        for (var e : state.entrySet()) {
            String key = e.getKey();
            if (missing.contains(key) || mismatched.stream().anyMatch(m -> m.startsWith(key + " ("))) continue;
            switch (e.getValue()) {
                case Parameter p -> p.set(source.floats(prefix + key));
                case Counter c -> c.set(source.longValue(prefix + key));
            }
            loaded++;
        }
        return new Report(missing, report.unexpected(), mismatched, loaded);
    }

    public static Report load(Module module, TensorSource source) throws IOException {
        return load(module, source, "", true);
    }

    /** Writes the state dict as safetensors (F32 tensors, I64 counters), atomically. */
    public static void save(Module module, Path path, Map<String, String> metadata) throws IOException {
        SafetensorsWriter w = new SafetensorsWriter();
        metadata.forEach(w::metadata);
        for (var e : module.stateDict().entrySet()) {
            switch (e.getValue()) {
                case Parameter p -> w.put(e.getKey(), p.toArray(), p.shape());
                case Counter c -> w.putLongs(e.getKey(), new long[] {c.get()});
            }
        }
        w.write(path);
    }
}
