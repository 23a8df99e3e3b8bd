package dev.polaformer.train;

import dev.polaformer.model.Parameter;
import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.Tensor;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * AdamW with the official parameter groups (spec §5.2): β 0.9/0.999, ε 1e-8; no weight decay for parameters
 * that are 1-D or whose name ends in {@code .bias} (the official {@code set_weight_decay}; its other two rules
 * match nothing in PolaFormer++). So {@code s1}, {@code s2} and the layerscale gammas (4-D) are decayed.
 * The moments live on the parameters' backend.
 */
public final class AdamW implements AutoCloseable {
    public static final float BETA1 = 0.9f, BETA2 = 0.999f, EPS = 1e-8f;

    private final Backend backend;
    private final Map<String, Parameter> params;
    private final Map<String, Tensor> expAvg = new LinkedHashMap<>(), expAvgSq = new LinkedHashMap<>();
    private final float weightDecay;
    private long steps;

    public AdamW(Backend backend, Map<String, Parameter> params, double weightDecay) {
        this.backend = backend;
        this.params = params;
        this.weightDecay = (float) weightDecay;
        for (var e : params.entrySet()) {
            expAvg.put(e.getKey(), backend.zeros(e.getValue().shape()));
            expAvgSq.put(e.getKey(), backend.zeros(e.getValue().shape()));
        }
    }

    /** The official rule: 1-D tensors and biases are not decayed. */
    public static boolean decays(String name, int[] shape) {
        return shape.length != 1 && !name.endsWith(".bias");
    }

    /** Applies one update with learning rate {@code lr} to every parameter from its gradient. */
    public void step(double lr) {
        steps++;
        for (var e : params.entrySet()) {
            Parameter p = e.getValue();
            float wd = decays(e.getKey(), p.shape()) ? weightDecay : 0f;
            backend.adamW(p.value(), p.grad(), expAvg.get(e.getKey()), expAvgSq.get(e.getKey()), (float) lr,
                    BETA1, BETA2, EPS, wd, steps);
        }
    }

    public long steps() {
        return steps;
    }

    /** For checkpoints: the step count and the moments by parameter name. */
    public void restore(long steps, Map<String, float[]> avg, Map<String, float[]> avgSq) {
        this.steps = steps;
        for (var e : params.keySet()) {
            float[] a = avg.get(e), b = avgSq.get(e);
            if (a == null || b == null) throw new IllegalArgumentException("checkpoint lacks optimizer state for " + e);
            write(expAvg.get(e), a);
            write(expAvgSq.get(e), b);
        }
    }

    private static void write(Tensor t, float[] v) {
        if (v.length != t.size()) throw new IllegalArgumentException("optimizer state of size " + v.length + " for " + t);
        t.storage().write(t.offset(), v, 0, v.length);
    }

    public Map<String, Tensor> expAvg() {
        return expAvg;
    }

    public Map<String, Tensor> expAvgSq() {
        return expAvgSq;
    }

    @Override
    public void close() {
        expAvg.values().forEach(Tensor::close);
        expAvgSq.values().forEach(Tensor::close);
    }
}
