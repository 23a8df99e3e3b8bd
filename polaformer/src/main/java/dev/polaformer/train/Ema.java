package dev.polaformer.train;

import dev.polaformer.model.Counter;
import dev.polaformer.model.Parameter;
import dev.polaformer.model.PolaFormer;
import dev.polaformer.model.StateEntry;
import dev.polaformer.numerics.Backend;

import java.util.Map;

/**
 * timm 0.4.12's {@code ModelEma} (spec §5.7): a copy of the model created before training, updated after every
 * optimiser step with {@code ema = decay·ema + (1 − decay)·model} for <em>every</em> state entry — parameters,
 * BatchNorm running statistics and {@code num_batches_tracked}, which is an integer and so is truncated.
 */
public final class Ema implements AutoCloseable {
    private final PolaFormer shadow;
    private final double decay;

    public Ema(PolaFormer model, double decay) {
        this.shadow = new PolaFormer(model.backend(), model.variant, model.numClasses);
        this.decay = decay;
        copyFrom(model);
    }

    public PolaFormer model() {
        return shadow;
    }

    public double decay() {
        return decay;
    }

    /** Makes the EMA an exact copy of {@code model}. */
    public void copyFrom(PolaFormer model) {
        Map<String, StateEntry> src = model.stateDict(), dst = shadow.stateDict();
        Backend b = model.backend();
        for (var e : src.entrySet()) {
            switch (e.getValue()) {
                case Parameter p -> b.copy(p.value(), ((Parameter) dst.get(e.getKey())).value());
                case Counter c -> ((Counter) dst.get(e.getKey())).set(c.get());
            }
        }
    }

    public void update(PolaFormer model) {
        Map<String, StateEntry> src = model.stateDict(), dst = shadow.stateDict();
        Backend b = model.backend();
        float d = (float) decay, rest = (float) (1 - decay);
        for (var e : src.entrySet()) {
            switch (e.getValue()) {
                case Parameter p -> {
                    var ema = ((Parameter) dst.get(e.getKey())).value();
                    b.scale(ema, d, ema);
                    b.addScaled(p.value(), rest, ema);
                }
                case Counter c -> {
                    Counter ec = (Counter) dst.get(e.getKey());
                    ec.set((long) (ec.get() * decay + (1 - decay) * c.get()));
                }
            }
        }
    }

    @Override
    public void close() {
        shadow.close();
    }
}
