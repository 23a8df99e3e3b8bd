package dev.polaformer.train;

import java.util.SplittableRandom;

/**
 * timm 0.4.12's {@code Mixup} in batch mode (spec §5.5): with probability {@code prob} one of Mixup
 * (λ ~ Beta(α_mix, α_mix), {@code x = λx + (1−λ)x_flip}) or CutMix (λ ~ Beta(α_cut, α_cut), a box of side
 * ratio √(1−λ) centred uniformly and clipped to the image, pasted from {@code x_flip}, λ corrected to the
 * box's area) is applied to the whole batch, CutMix with probability {@code switchProb}. {@code x_flip} is the
 * batch in reverse order. Targets: {@code λ·smooth(y) + (1−λ)·smooth(y_flip)} with label smoothing.
 */
public record Mixup(double mixupAlpha, double cutmixAlpha, double prob, double switchProb, double smoothing, int classes) {

    /** What was done to a batch: λ and, for CutMix, the box {@code [y0, y1) × [x0, x1)}. */
    public record Decision(double lambda, boolean cutmix, int y0, int y1, int x0, int x1) {
        static final Decision NONE = new Decision(1, false, 0, 0, 0, 0);
    }

    public static Mixup of(TrainConfig c) {
        return new Mixup(c.mixupAlpha(), c.cutmixAlpha(), c.mixupProb(), c.mixupSwitchProb(), c.labelSmoothing(), c.numClasses());
    }

    /** timm's {@code _params_per_batch} plus the CutMix box for an {@code h × w} image. */
    public Decision decide(SplittableRandom r, int h, int w) {
        if (!(mixupAlpha > 0 || cutmixAlpha > 0) || !(r.nextDouble() < prob)) return Decision.NONE;
        boolean cut;
        double lam;
        if (mixupAlpha > 0 && cutmixAlpha > 0) {
            cut = r.nextDouble() < switchProb;
            lam = cut ? beta(r, cutmixAlpha) : beta(r, mixupAlpha);
        } else if (mixupAlpha > 0) {
            cut = false;
            lam = beta(r, mixupAlpha);
        } else {
            cut = true;
            lam = beta(r, cutmixAlpha);
        }
        if (!cut) return new Decision(lam, false, 0, 0, 0, 0);
        // rand_bbox: cut sides int(H·√(1−λ)), centre uniform in [0, H) × [0, W), clipped; then λ = 1 − area/(H·W)
        double ratio = Math.sqrt(1 - lam);
        int cutH = (int) (h * ratio), cutW = (int) (w * ratio);
        int cy = r.nextInt(h), cx = r.nextInt(w);
        int y0 = clamp(cy - cutH / 2, h), y1 = clamp(cy + cutH / 2, h);
        int x0 = clamp(cx - cutW / 2, w), x1 = clamp(cx + cutW / 2, w);
        double corrected = 1 - (double) (y1 - y0) * (x1 - x0) / ((double) h * w);
        return new Decision(corrected, true, y0, y1, x0, x1);
    }

    private static int clamp(int v, int max) {
        return Math.max(0, Math.min(max, v));
    }

    /**
     * Mixes a channels-last batch {@code (B, H, W, C)} in place and returns the soft targets {@code (B, classes)}.
     * With {@code d} = {@link Decision#NONE} only the label smoothing applies.
     */
    public float[] apply(Decision d, float[] images, int batch, int h, int w, int c, int[] labels) {
        if (d.lambda != 1 && batch % 2 != 0) throw new IllegalArgumentException("Mixup needs an even batch, got " + batch);
        int per = h * w * c;
        if (d.cutmix) {
            // Both halves of each pair read the other's original pixels: swap the boxes of i and B−1−i.
            for (int i = 0; i < batch / 2; i++) {
                int a = i * per, b = (batch - 1 - i) * per;
                for (int y = d.y0; y < d.y1; y++) {
                    for (int k = (y * w + d.x0) * c, end = (y * w + d.x1) * c; k < end; k++) {
                        float t = images[a + k];
                        images[a + k] = images[b + k];
                        images[b + k] = t;
                    }
                }
            }
        } else if (d.lambda != 1) {
            float lam = (float) d.lambda, rest = (float) (1 - d.lambda);
            for (int i = 0; i < batch / 2; i++) {
                int a = i * per, b = (batch - 1 - i) * per;
                for (int k = 0; k < per; k++) {
                    float xa = images[a + k], xb = images[b + k];
                    images[a + k] = xa * lam + xb * rest;
                    images[b + k] = xb * lam + xa * rest;
                }
            }
        }
        float off = (float) (smoothing / classes), on = (float) (1 - smoothing + smoothing / classes);
        float[] t = new float[batch * classes];
        for (int i = 0; i < batch; i++) {
            int flip = labels[batch - 1 - i];
            for (int k = 0; k < classes; k++) {
                float y1 = labels[i] == k ? on : off, y2 = flip == k ? on : off;
                t[i * classes + k] = (float) (y1 * d.lambda + y2 * (1 - d.lambda));
            }
        }
        return t;
    }

    /** Beta(a, a) from two gamma variates. */
    static double beta(SplittableRandom r, double a) {
        if (a == 1) return r.nextDouble();
        double x = gamma(r, a), y = gamma(r, a);
        return x / (x + y);
    }

    /** Marsaglia and Tsang's method; for shape below 1, boosted by U^(1/shape). */
    static double gamma(SplittableRandom r, double shape) {
        if (shape < 1) return gamma(r, shape + 1) * Math.pow(r.nextDouble(), 1 / shape);
        double d = shape - 1.0 / 3, c = 1 / Math.sqrt(9 * d);
        while (true) {
            double x, v;
            do {
                x = dev.polaformer.numerics.Gaussian.next(r);
                v = 1 + c * x;
            } while (v <= 0);
            v = v * v * v;
            double u = r.nextDouble();
            if (u < 1 - 0.0331 * x * x * x * x || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
        }
    }
}
