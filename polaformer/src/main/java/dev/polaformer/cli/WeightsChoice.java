package dev.polaformer.cli;

import dev.polaformer.infer.Predictor;
import dev.polaformer.model.Variant;
import dev.polaformer.numerics.Backend;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Path;

/** Which weights a command runs: a file (model or EMA, strict or not), or an untrained model of a variant. */
final class WeightsChoice {
    @Option(names = {"-w", "--weights"}, description = "Weights: .safetensors, a training checkpoint, or a PyTorch "
            + "checkpoint (.pth/.pt). Without it the model is randomly initialised and its answers mean nothing.")
    Path weights;

    @Option(names = "--ema", description = "From a training checkpoint, take the EMA weights (model_ema).")
    boolean ema;

    @Option(names = "--variant", defaultValue = "b0", description = "Variant for random weights (default: ${DEFAULT-VALUE}).")
    String variant;

    @Option(names = "--non-strict", description = "Load weights that do not fit exactly, reporting what was skipped.")
    boolean nonStrict;

    boolean random() {
        return weights == null;
    }

    Predictor open(Backend backend, int imageSize) throws IOException {
        return weights == null ? Predictor.random(backend, Variant.of(variant), 1000, 0, imageSize)
                : Predictor.load(backend, weights, ema ? "model_ema" : null, !nonStrict, imageSize);
    }
}
