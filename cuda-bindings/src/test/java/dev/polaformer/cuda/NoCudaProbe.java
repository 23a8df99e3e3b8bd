package dev.polaformer.cuda;

import dev.polaformer.cuda.bindings.runtime.CudaRuntime;
import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.Backends;
import dev.polaformer.numerics.Tensor;

import java.util.Random;

/**
 * Run in a child JVM by {@link NoBindingClassLoadedTest}: selects a backend as the model would (from
 * {@code -Dpolaformer.backend}, default auto), runs a small model-like step on it (patch-embedding
 * convolution, LayerNorm, a linear layer, GELU, softmax, a gradient) and prints the choice and a checksum,
 * or the selection error. With the argument {@code touch-bindings} it also reads a generated constant, the
 * positive control showing that the class-load log does catch a binding class.
 */
public final class NoCudaProbe {
    public static void main(String[] args) {
        try {
            Backend b = Backends.get();
            System.out.println("selected=" + b.id());
            System.out.println("checksum=" + step(b));
        } catch (RuntimeException e) {
            System.out.println("error=" + e.getClass().getSimpleName() + ": " + e.getMessage());
        }
        if (args.length > 0 && args[0].equals("touch-bindings")) System.out.println("cudaSuccess=" + Touch.cudaSuccess());
    }

    private static double step(Backend b) {
        Random r = new Random(7);
        Tensor image = b.fromArray(random(r, 2 * 8 * 8 * 3), 2, 8, 8, 3);
        Tensor patchWeight = b.fromArray(random(r, 16 * 3 * 2 * 2), 16, 3, 2, 2);
        Tensor patches = b.zeros(2, 4, 4, 16);
        b.conv2d(image, patchWeight, null, 2, 0, patches);
        Tensor tokens = patches.reshape(2 * 16, 16);
        Tensor normed = b.zeros(2 * 16, 16);
        b.layerNorm(tokens, b.fromArray(ones(16), 16), b.zeros(16), 1e-5f, normed, null, null);
        Tensor w = b.fromArray(random(r, 16 * 10), 16, 10);
        Tensor logits = b.zeros(2 * 16, 10);
        b.matmul(normed, false, w, false, logits, 1f, 0f);
        Tensor act = b.zeros(2 * 16, 10);
        b.gelu(logits, act);
        Tensor probs = b.zeros(2 * 16, 10);
        b.softmax(act, probs);
        Tensor dx = b.zeros(2 * 16, 10);
        b.geluBackward(logits, probs, dx);
        return b.sumOfSquares(probs) + b.sumOfSquares(dx);
    }

    private static float[] random(Random r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) r.nextGaussian();
        return a;
    }

    private static float[] ones(int n) {
        float[] a = new float[n];
        java.util.Arrays.fill(a, 1f);
        return a;
    }

    /** Kept apart so that the binding class is resolved only when this runs. */
    private static final class Touch {
        static int cudaSuccess() {
            return CudaRuntime.cudaSuccess();
        }
    }
}
