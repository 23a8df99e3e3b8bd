package dev.polaformer.cli;

import dev.polaformer.infer.ImageDecoder;
import dev.polaformer.infer.Predictor;
import dev.polaformer.infer.RgbImage;
import dev.polaformer.numerics.Backend;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "classify", mixinStandardHelpOptions = true,
        description = "Top-k classes of images (JPEG/PNG), preprocessed like the official evaluation.")
final class ClassifyCommand implements Callable<Integer> {
    @Parameters(arity = "1..*", paramLabel = "IMAGE", description = "Image files.")
    List<Path> images;

    @Mixin
    WeightsChoice weights;

    @Option(names = "--top", defaultValue = "5", description = "How many classes to print (default: ${DEFAULT-VALUE}).")
    int top;

    @Option(names = "--size", defaultValue = "224", description = "Crop size (default: ${DEFAULT-VALUE}).")
    int size;

    @Mixin
    Common common;

    @Override
    public Integer call() throws Exception {
        Backend backend = common.backend();
        long tDecode = System.nanoTime();
        List<RgbImage> decoded = new ArrayList<>();
        for (Path image : images) decoded.add(ImageDecoder.read(image));
        long t0 = System.nanoTime();
        try (Predictor p = weights.open(backend, size)) {
            long t1 = System.nanoTime();
            System.out.println("model " + p.model().variant + ", " + p.model().numClasses + " classes, weights: "
                    + p.weightsDescription() + " (" + backend.id() + ": " + backend.describe() + ")");
            if (weights.random()) {
                System.out.println("NOTE: no --weights given: the model is randomly initialised, so these answers are meaningless.");
            }
            long t2 = System.nanoTime();
            var results = p.classify(decoded, top);
            long t3 = System.nanoTime();
            for (int i = 0; i < images.size(); i++) {
                System.out.println(images.get(i));
                for (var r : results.get(i)) {
                    System.out.printf("  %6.2f%%  %4d  %s%n", 100 * r.probability(), r.index(), r.label());
                }
            }
            System.out.printf("load %.0f ms, decode %.0f ms, inference %.0f ms for %d image(s)%n",
                    (t1 - t0) / 1e6, (t0 - tDecode) / 1e6, (t3 - t2) / 1e6, images.size());
        }
        return 0;
    }
}
