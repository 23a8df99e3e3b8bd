package dev.polaformer.train;

import dev.polaformer.model.Initializer;
import dev.polaformer.model.Pass;
import dev.polaformer.model.PolaFormer;
import dev.polaformer.model.Variant;
import dev.polaformer.numerics.Tensor;
import dev.polaformer.numerics.cpu.CpuBackend;

import java.util.SplittableRandom;

/**
 * A few seconds of b0 work on the {@code cpu} backend that reaches every kernel the model and the trainer use:
 * inference forwards (BatchNorm in eval mode), forward and backward in train mode on 64×64 images, and full
 * training steps at 32×32 (the Fashion-MNIST trainer: loss, clipping, AdamW, EMA). {@link JitCompilationTest}
 * runs it in a child JVM and reads what the JIT compilers did.
 */
public final class JitWorkload {
    private JitWorkload() {}

    public static void main(String[] args) {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 12;
        CpuBackend backend = new CpuBackend(2);
        try (PolaFormer model = new PolaFormer(backend, Variant.B0, 10, 0.1)) {
            Initializer.initialize(model, 1);
            float[] images = noise(1, 2 * 64 * 64 * 3);
            for (int r = 0; r < rounds; r++) {
                try (Pass pass = Pass.inference(backend)) {
                    model.forward(input(pass, images, 2, 64), pass);
                }
                try (Pass pass = Pass.withGradients(backend, true, r)) {
                    Tensor logits = model.forward(input(pass, images, 2, 64), pass);
                    Tensor dLogits = pass.empty(logits.shape());
                    backend.fill(dLogits, 0.01f);
                    model.zeroGrad();
                    model.backward(dLogits, pass);
                }
            }
        }
        // the small-image recipe of the trainer, Mixup and CutMix on so that every step runs the same ops
        TrainConfig c = new TrainConfig(Variant.B0, 10, 32, 3, 0, 0, 8, 2e-3, 1e-5, 1e-5, 0.05, 5.0, 0.1, 0.8, 1.0,
                1.0, 0.5, 0.1, 0.99, "none", 0, 0.75, 0, 1);
        try (PolaFormer model = new PolaFormer(backend, c.variant(), c.numClasses(), c.dropPath())) {
            Initializer.initialize(model, 2);
            try (AdamW optimizer = new AdamW(backend, model.namedParameters(), c.weightDecay());
                 Ema ema = new Ema(model, c.emaDecay())) {
                TrainingStep step = new TrainingStep(c, model, optimizer, ema);
                int[] labels = {0, 1, 2, 3, 4, 5, 6, 7};
                for (int r = 0; r < 2 * rounds; r++) {
                    step.run(noise(r, 8 * 32 * 32 * 3), labels, 8, r, c.scaledLr());
                }
            }
        }
        System.out.println("workload done");
    }

    private static Tensor input(Pass pass, float[] images, int n, int side) {
        Tensor x = pass.empty(n, side, side, 3);
        x.storage().write(x.offset(), images, 0, images.length);
        return x;
    }

    private static float[] noise(long seed, int n) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (4 * r.nextDouble() - 2);
        return a;
    }
}
