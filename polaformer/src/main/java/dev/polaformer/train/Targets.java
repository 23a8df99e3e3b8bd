package dev.polaformer.train;

/** Soft targets for the cross-entropy, as timm builds them. */
public final class Targets {
    private Targets() {}

    /**
     * Label smoothing: {@code (1 − s)·onehot(label) + s/K} for each row, the targets timm's Mixup makes with
     * λ = 1 and that {@code F.cross_entropy(label_smoothing=s)} implies.
     */
    public static float[] smoothed(int[] labels, int classes, double smoothing) {
        float off = (float) (smoothing / classes), on = (float) (1 - smoothing + smoothing / classes);
        float[] t = new float[labels.length * classes];
        for (int b = 0; b < labels.length; b++) {
            if (labels[b] < 0 || labels[b] >= classes) {
                throw new IllegalArgumentException("label " + labels[b] + " of sample " + b + " is outside 0.." + (classes - 1));
            }
            java.util.Arrays.fill(t, b * classes, (b + 1) * classes, off);
            t[b * classes + labels[b]] = on;
        }
        return t;
    }
}
