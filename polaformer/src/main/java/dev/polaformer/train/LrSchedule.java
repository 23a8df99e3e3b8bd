package dev.polaformer.train;

/**
 * timm 0.4.12's {@code CosineLRScheduler} stepped per iteration ({@code t_in_epochs=False}), as the official
 * trainer uses it (spec §5.3):
 * <pre>
 *   lr(t) = warmup + t·(peak − warmup)/Tw                      t &lt; Tw
 *   lr(t) = min + ½(peak − min)(1 + cos(π·t/T))                Tw ≤ t &lt; T      (t is not shifted by Tw)
 *   lr(t) = min                                               t ≥ T            (cooldown)
 * </pre>
 * The trainer calls {@code step_update(k)} after iteration k's optimiser step, so iteration k runs with
 * {@code lr(k − 1)}, and iteration 0 with the warmup value; {@link #forIteration} applies that shift.
 */
public record LrSchedule(double peak, double warmup, double min, long warmupSteps, long totalSteps) {

    public static LrSchedule of(TrainConfig c, int stepsPerEpoch) {
        return new LrSchedule(c.scaledLr(), c.scaledWarmupLr(), c.scaledMinLr(),
                (long) c.warmupEpochs() * stepsPerEpoch, (long) c.epochs() * stepsPerEpoch);
    }

    /** timm's {@code _get_lr(t)}. */
    public double at(long t) {
        if (t < warmupSteps) return warmup + t * (peak - warmup) / warmupSteps;
        if (t >= totalSteps) return min;
        return min + 0.5 * (peak - min) * (1 + Math.cos(Math.PI * t / totalSteps));
    }

    /** The rate iteration {@code k} (counting from 0 over the whole run) trains with. */
    public double forIteration(long k) {
        return at(Math.max(0, k - 1));
    }
}
