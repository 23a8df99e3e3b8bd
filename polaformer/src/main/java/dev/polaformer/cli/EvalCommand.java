package dev.polaformer.cli;

import dev.polaformer.data.Dataset;
import dev.polaformer.data.EvalTransform;
import dev.polaformer.infer.Predictor;
import dev.polaformer.numerics.Backend;
import dev.polaformer.train.Evaluator;
import dev.polaformer.train.Progress;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

@Command(name = "eval", mixinStandardHelpOptions = true,
        description = "Top-1/top-5 accuracy and loss of weights on a validation set, preprocessed like the official evaluation.")
final class EvalCommand implements Callable<Integer> {
    @Option(names = {"-w", "--weights"}, required = true,
            description = "model.safetensors / model_ema.safetensors from train, a training checkpoint, or a PyTorch checkpoint.")
    Path weights;

    @Option(names = "--ema", description = "From a checkpoint, evaluate the EMA weights.") boolean ema;

    @Option(names = "--data", defaultValue = DataChoice.SUBSET,
            description = "fashion-mnist-subset, fashion-mnist, or a folder with val/ (default: ${DEFAULT-VALUE}).")
    String data;

    @Option(names = "--size", defaultValue = "224", description = "Crop size (default: ${DEFAULT-VALUE}).") int size;
    @Option(names = "--batch", defaultValue = "64") int batch;
    @Option(names = "--workers", defaultValue = "2") int workers;

    @Mixin
    Common common;

    @Override
    public Integer call() throws Exception {
        Backend backend = common.backend();
        Dataset val = DataChoice.open(data, "val");
        try (Predictor p = Predictor.load(backend, weights, ema ? "model_ema" : null, true, size)) {
            if (p.model().numClasses != val.numClasses()) {
                throw new IllegalArgumentException("the weights have " + p.model().numClasses + " classes, " + data + " has "
                        + val.numClasses());
            }
            var r = Evaluator.evaluate(p.model(), val, new EvalTransform(p.preprocess()), batch, workers,
                    Progress.forStderr(), "eval");
            System.out.println(p.model().variant + " (" + p.weightsDescription() + ") on " + data + ": " + r.describe());
        }
        return 0;
    }
}
