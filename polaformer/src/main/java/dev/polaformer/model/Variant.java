package dev.polaformer.model;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * The official PolaFormer++ configurations b0–b5 as data (spec §2). Stages 0 and 1 use polarity-aware linear
 * attention in every block, stages 2 and 3 softmax attention (§1.3); every stage has MLP ratio 3.5 and
 * layerscale on.
 *
 * @param embedDims       channels per stage
 * @param depths          blocks per stage
 * @param heads           attention heads per stage
 * @param projection      width P of the 1×1 projection before pooling
 * @param layerInitValues initial value of gamma_1/gamma_2 per stage
 * @param dropPathRate    the largest stochastic-depth rate (linearly spaced over all blocks)
 */
public record Variant(String name, int[] embedDims, int[] depths, int[] heads, int projection,
                      float[] layerInitValues, double dropPathRate) {

    public static final Variant B0 = new Variant("b0", new int[] {32, 64, 128, 384}, new int[] {2, 2, 2, 2},
            new int[] {1, 2, 4, 12}, 2048, new float[] {1, 1, 1, 1}, 0.1);
    public static final Variant B1 = new Variant("b1", new int[] {32, 64, 192, 384}, new int[] {2, 2, 4, 2},
            new int[] {1, 2, 6, 12}, 2048, new float[] {1, 1, 1, 1}, 0.1);
    public static final Variant B2 = new Variant("b2", new int[] {64, 128, 256, 512}, new int[] {2, 2, 6, 2},
            new int[] {1, 2, 4, 8}, 2048, new float[] {1, 1, 1, 1}, 0.1);
    public static final Variant B3 = new Variant("b3", new int[] {64, 128, 320, 512}, new int[] {3, 5, 9, 3},
            new int[] {1, 2, 5, 8}, 2048, new float[] {1, 1, 1, 1}, 0.15);
    public static final Variant B4 = new Variant("b4", new int[] {96, 192, 384, 512}, new int[] {4, 6, 12, 6},
            new int[] {1, 2, 6, 8}, 2048, new float[] {1, 1, 1e-6f, 1e-6f}, 0.4);
    public static final Variant B5 = new Variant("b5", new int[] {96, 192, 448, 640}, new int[] {4, 7, 19, 8},
            new int[] {1, 2, 7, 10}, 2560, new float[] {1e-6f, 1e-6f, 1e-6f, 1e-6f}, 0.55);

    public static final List<Variant> ALL = List.of(B0, B1, B2, B3, B4, B5);

    public Variant {
        if (embedDims.length != 4 || depths.length != 4 || heads.length != 4 || layerInitValues.length != 4) {
            throw new IllegalArgumentException("a variant has four stages");
        }
        embedDims = embedDims.clone();
        depths = depths.clone();
        heads = heads.clone();
        layerInitValues = layerInitValues.clone();
    }

    /** b0..b5 by name (case-insensitive). */
    public static Variant of(String name) {
        String n = name.trim().toLowerCase(Locale.ROOT);
        if (n.startsWith("pola_")) n = n.substring(5);
        for (Variant v : ALL) if (v.name.equals(n)) return v;
        throw new IllegalArgumentException("unknown variant '" + name + "'; choose one of b0, b1, b2, b3, b4, b5");
    }

    /**
     * The variant whose shapes a state dict has (embedding widths, blocks per stage, projection width), read from
     * its keys; fails naming what was found when no variant fits.
     */
    public static Variant detect(java.util.function.Function<String, int[]> shapeOf, java.util.Set<String> keys) {
        int[] dims = new int[4], depths = new int[4];
        for (int s = 0; s < 4; s++) {
            int[] norm = keys.contains("layers." + s + ".blocks.0.norm1.norm.weight")
                    ? shapeOf.apply("layers." + s + ".blocks.0.norm1.norm.weight") : null;
            dims[s] = norm == null ? -1 : norm[0];
            while (keys.contains("layers." + s + ".blocks." + depths[s] + ".norm1.norm.weight")) depths[s]++;
        }
        int projection = keys.contains("proj.weight") ? shapeOf.apply("proj.weight")[0] : -1;
        for (Variant v : ALL) {
            if (Arrays.equals(v.embedDims, dims) && Arrays.equals(v.depths, depths) && v.projection == projection) return v;
        }
        throw new IllegalArgumentException("the weights fit none of b0-b5: stage widths " + Arrays.toString(dims)
                + ", blocks per stage " + Arrays.toString(depths) + ", projection " + projection);
    }

    public int stages() {
        return 4;
    }

    public int dim(int stage) {
        return embedDims[stage];
    }

    public int depth(int stage) {
        return depths[stage];
    }

    public int heads(int stage) {
        return heads[stage];
    }

    /** FFN width, {@code int(3.5·C)}. */
    public int ffnDim(int stage) {
        return (int) (3.5 * embedDims[stage]);
    }

    /** True where the stage uses polarity-aware linear attention (flag 'l'), false for softmax ('v'). */
    public boolean linearAttention(int stage) {
        return stage < 2;
    }

    public float layerInitValue(int stage) {
        return layerInitValues[stage];
    }

    public int totalBlocks() {
        return Arrays.stream(depths).sum();
    }

    /** The stochastic-depth rate of every block in order, {@code linspace(0, dropPathRate, Σdepths)}. */
    public double[] dropPathRates(double rate) {
        int n = totalBlocks();
        double[] r = new double[n];
        for (int i = 0; i < n; i++) r[i] = n == 1 ? 0 : rate * i / (n - 1);
        return r;
    }

    @Override
    public String toString() {
        return name;
    }
}
