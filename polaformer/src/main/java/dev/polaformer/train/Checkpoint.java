package dev.polaformer.train;

import dev.polaformer.io.Json;
import dev.polaformer.io.SafetensorsFile;
import dev.polaformer.io.SafetensorsWriter;
import dev.polaformer.io.TensorSource;
import dev.polaformer.io.Weights;
import dev.polaformer.model.Counter;
import dev.polaformer.model.Parameter;
import dev.polaformer.model.PolaFormer;
import dev.polaformer.numerics.Tensor;

import java.io.IOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A training checkpoint: one safetensors file with the model ({@code model.*}, official keys), the EMA
 * ({@code ema.*}), AdamW's moments ({@code optimizer.exp_avg.*}, {@code optimizer.exp_avg_sq.*}) and, in the
 * {@value #META} metadata, the configuration and the position. Nothing else is needed to resume exactly: every
 * random choice of the run is derived from the seed and the position. Written atomically.
 */
public final class Checkpoint {
    public static final String META = "polaformer.checkpoint";

    private Checkpoint() {}

    /** Where training stands: the next batch to run is {@code batch} of {@code epoch}; {@code step} iterations are done. */
    public record Position(int epoch, int batch, long step) {}

    public static void save(Path path, TrainConfig config, Position position, PolaFormer model, Ema ema, AdamW optimizer,
                            Map<String, Object> extra, List<String> labels) throws IOException {
        SafetensorsWriter w = new SafetensorsWriter();
        addState(w, "model.", model);
        if (ema != null) addState(w, "ema.", ema.model());
        for (var e : optimizer.expAvg().entrySet()) put(w, "optimizer.exp_avg." + e.getKey(), e.getValue());
        for (var e : optimizer.expAvgSq().entrySet()) put(w, "optimizer.exp_avg_sq." + e.getKey(), e.getValue());
        Map<String, Object> meta = new LinkedHashMap<>();
        meta.put("version", 1);
        meta.put("config", config.toJson());
        meta.put("epoch", position.epoch());
        meta.put("batch", position.batch());
        meta.put("step", position.step());
        meta.put("optimizer_steps", optimizer.steps());
        meta.put("extra", extra);
        w.metadata(META, Json.write(meta));
        w.metadata("labels", Json.write(labels));
        w.write(path);
    }

    private static void addState(SafetensorsWriter w, String prefix, PolaFormer m) {
        for (var e : m.stateDict().entrySet()) {
            switch (e.getValue()) {
                case Parameter p -> w.put(prefix + e.getKey(), p.toArray(), p.shape());
                case Counter c -> w.putLongs(prefix + e.getKey(), new long[] {c.get()});
            }
        }
    }

    private static void put(SafetensorsWriter w, String name, Tensor t) {
        w.put(name, t.toArray(), t.shape());
    }

    /** What a checkpoint holds besides tensors. */
    public record Header(TrainConfig config, Position position, long optimizerSteps, Map<String, Object> extra) {}

    @SuppressWarnings("unchecked")
    public static Header header(SafetensorsFile f) {
        String json = f.metadata().get(META);
        if (json == null) throw new IllegalArgumentException(f.path() + " is not a training checkpoint (no " + META + " metadata)");
        Map<String, Object> m = Json.parseObject(json);
        TrainConfig c = TrainConfig.fromJson((Map<String, Object>) m.get("config"));
        Position p = new Position(((Number) m.get("epoch")).intValue(), ((Number) m.get("batch")).intValue(),
                ((Number) m.get("step")).longValue());
        Map<String, Object> extra = m.get("extra") instanceof Map<?, ?> x ? (Map<String, Object>) x : Map.of();
        return new Header(c, p, ((Number) m.get("optimizer_steps")).longValue(), extra);
    }

    /** Restores model, EMA and optimizer from an open checkpoint (strictly: every key must fit). */
    public static void restore(SafetensorsFile f, PolaFormer model, Ema ema, AdamW optimizer) throws IOException {
        Header h = header(f);
        TensorSource all = TensorSource.of(f);
        Weights.load(model, prefixed(all, "model."), "", true);
        if (ema != null) Weights.load(ema.model(), prefixed(all, "ema."), "", true);
        Map<String, float[]> avg = new HashMap<>(), avgSq = new HashMap<>();
        for (String name : f.entries().keySet()) {
            if (name.startsWith("optimizer.exp_avg_sq.")) avgSq.put(name.substring("optimizer.exp_avg_sq.".length()), f.floats(name));
            else if (name.startsWith("optimizer.exp_avg.")) avg.put(name.substring("optimizer.exp_avg.".length()), f.floats(name));
        }
        optimizer.restore(h.optimizerSteps(), avg, avgSq);
    }

    /** The entries of {@code source} under {@code prefix}, with the prefix removed. */
    public static TensorSource prefixed(TensorSource source, String prefix) {
        java.util.Set<String> names = new java.util.LinkedHashSet<>();
        for (String n : source.names()) if (n.startsWith(prefix)) names.add(n.substring(prefix.length()));
        return new TensorSource() {
            public String describe() { return source.describe() + " [" + prefix.substring(0, prefix.length() - 1) + "]"; }
            public java.util.Set<String> names() { return names; }
            public int[] shape(String name) { return source.shape(prefix + name); }
            public float[] floats(String name) throws IOException { return source.floats(prefix + name); }
            public long longValue(String name) throws IOException { return source.longValue(prefix + name); }
            public void close() {}
        };
    }
}
