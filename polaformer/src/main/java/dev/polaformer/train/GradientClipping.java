package dev.polaformer.train;

import dev.polaformer.model.Parameter;
import dev.polaformer.numerics.Backend;

import java.util.Map;

/** The global gradient norm and {@code clip_grad_norm_} (spec §5.7): scale by {@code min(1, max/(norm + 1e-6))}. */
public final class GradientClipping {
    private GradientClipping() {}

    /**
     * The L2 norm over every gradient, summed in double; fails naming the first parameter (in state-dict order)
     * whose gradient is not finite.
     */
    public static double norm(Backend backend, Map<String, Parameter> params) {
        double total = 0;
        for (var e : params.entrySet()) {
            double sq = backend.sumOfSquares(e.getValue().grad());
            if (!Double.isFinite(sq)) throw new ArithmeticException("the gradient of " + e.getKey() + " is not finite");
            total += sq;
        }
        return Math.sqrt(total);
    }

    /** Clips to {@code maxNorm} (NaN: no clipping) and returns the norm before clipping. */
    public static double clip(Backend backend, Map<String, Parameter> params, double maxNorm) {
        double norm = norm(backend, params);
        if (!Double.isNaN(maxNorm)) {
            double coef = maxNorm / (norm + 1e-6);
            if (coef < 1) for (Parameter p : params.values()) backend.scale(p.grad(), (float) coef, p.grad());
        }
        return norm;
    }
}
