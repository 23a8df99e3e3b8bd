package dev.polaformer.model;

import dev.polaformer.numerics.Gaussian;

import java.util.SplittableRandom;

/**
 * The official initialisation ({@code POLA._init_weights}, spec §3), seeded:
 * <ul>
 *   <li>every convolution (depthwise, {@code proj} and {@code head} included): weight N(0, 0.02²) truncated at
 *       ±2 (absolute, as timm 0.4.12 — in effect never), bias 0;</li>
 *   <li>LayerNorm: weight 1, bias 0; BatchNorm: weight 1, bias 0, running mean 0, variance 1;</li>
 *   <li>{@code nn.Linear} is not touched by the official code, so it keeps PyTorch's default: weight and bias
 *       U(±1/√fan_in);</li>
 *   <li>{@code s1 = s2 = 0}; {@code gamma_1 = gamma_2} = the stage's layer-init value; RoPE angles as built.</li>
 * </ul>
 */
public final class Initializer {
    private Initializer() {}

    public static void initialize(PolaFormer model, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        visit(model, random, model.variant, -1);
    }

    private static void visit(Module m, SplittableRandom random, Variant v, int stage) {
        switch (m) {
            case Conv2d c -> {
                c.weight.set(truncatedNormal(random, c.weight.value().size(), 0.02));
                c.bias.set(new float[c.out]);
            }
            case DepthwiseConv2d c -> {
                c.weight.set(truncatedNormal(random, c.weight.value().size(), 0.02));
                c.bias.set(new float[c.channels]);
            }
            case Linear l -> {
                double bound = 1 / Math.sqrt(l.in);
                l.weight.set(uniform(random, l.weight.value().size(), bound));
                l.bias.set(uniform(random, l.out, bound));
            }
            case LayerNorm n -> {
                n.weight.set(filled(n.channels, 1));
                n.bias.set(new float[n.channels]);
            }
            case BatchNorm2d n -> {
                n.weight.set(filled(n.channels, 1));
                n.bias.set(new float[n.channels]);
                n.runningMean.set(new float[n.channels]);
                n.runningVar.set(filled(n.channels, 1));
                n.batchesTracked.set(0);
            }
            case PolaLinearAttention a -> {
                a.s1.set(new float[a.s1.value().size()]);
                a.s2.set(new float[a.s2.value().size()]);
            }
            case Block b when b.gamma1 != null -> {
                b.gamma1.set(filled(b.dim, v.layerInitValue(stage)));
                b.gamma2.set(filled(b.dim, v.layerInitValue(stage)));
            }
            default -> { }
        }
        int childStage = m instanceof Stage s ? s.index : stage;
        for (Module child : m.children()) visit(child, random, v, childStage);
    }

    private static float[] truncatedNormal(SplittableRandom r, int n, double std) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            double x;
            do {
                x = std * Gaussian.next(r);
            } while (x < -2 || x > 2);
            a[i] = (float) x;
        }
        return a;
    }

    private static float[] uniform(SplittableRandom r, int n, double bound) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) ((2 * r.nextDouble() - 1) * bound);
        return a;
    }

    private static float[] filled(int n, float value) {
        float[] a = new float[n];
        java.util.Arrays.fill(a, value);
        return a;
    }
}
