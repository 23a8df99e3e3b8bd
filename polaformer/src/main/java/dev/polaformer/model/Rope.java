package dev.polaformer.model;

import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.RopeTables;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The official {@code RoPE} module: an {@code angle} buffer (loaded from checkpoints, whose float32 values the
 * tables must use) and the (sin, cos) tables it yields for a grid, cached per (h, w) until the buffer changes.
 */
public final class Rope extends Module {
    public final Parameter angle;
    private final Map<Long, RopeTables> cache = new ConcurrentHashMap<>();
    private volatile int cachedVersion = -1;

    /** {@code RoPE(embedDim, heads)}: tables of width {@code embedDim/heads/4·2·2 = embedDim/heads}. */
    public Rope(Backend backend, int embedDim, int heads) {
        super(backend);
        float[] a = RopeTables.defaultAngles(embedDim, heads);
        this.angle = buffer("angle", a.length);
        angle.set(a);
    }

    /** The tables for an {@code h × w} grid, owned by this module. */
    public RopeTables tables(int h, int w) {
        int v = angle.version();
        if (v != cachedVersion) {
            synchronized (this) {
                if (v != cachedVersion) {
                    cache.values().forEach(RopeTables::close);
                    cache.clear();
                    cachedVersion = v;
                }
            }
        }
        long key = ((long) h << 32) | w;
        Last last = this.last;
        if (last != null && last.key == key && last.version == v) return last.tables;  // every block asks: no boxing
        RopeTables t = tablesFor(key, h, w);
        this.last = new Last(key, v, t);
        return t;
    }

    /** The grid a stage asked for last, so that its blocks find their tables without a map lookup. */
    private record Last(long key, int version, RopeTables tables) {}

    private volatile Last last;

    private RopeTables tablesFor(long key, int h, int w) {
        return cache.computeIfAbsent(key, k -> {
            float[][] t = RopeTables.compute(angle.toArray(), h, w);
            int n = h * w, d = t[0].length / n;
            return new RopeTables(backend.fromArray(t[0], n, d), backend.fromArray(t[1], n, d));
        });
    }

    @Override
    public void close() {
        last = null;
        cache.values().forEach(RopeTables::close);
        cache.clear();
        super.close();
    }
}
