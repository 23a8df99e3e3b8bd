package dev.polaformer.cli;

import dev.polaformer.model.Complexity;
import dev.polaformer.model.Variant;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "info", mixinStandardHelpOptions = true,
        description = "Parameters and FLOPs of each variant (multiply-adds of conv, linear and matmul, as fvcore counts).")
final class InfoCommand implements Callable<Integer> {
    @Option(names = "--variant", description = "One variant (b0-b5); default: all.")
    String variant;

    @Option(names = "--size", description = "Input side in pixels (default: ${DEFAULT-VALUE}); --height/--width for H≠W.",
            defaultValue = "224")
    int size;

    @Option(names = "--height") Integer height;
    @Option(names = "--width") Integer width;

    @Option(names = "--classes", defaultValue = "1000", description = "Number of classes (default: ${DEFAULT-VALUE}).")
    int classes;

    @Override
    public Integer call() {
        int h = height != null ? height : size, w = width != null ? width : size;
        if (h % 32 != 0 || w % 32 != 0 || h < 32 || w < 32) {
            throw new IllegalArgumentException("image sides must be positive multiples of 32, got " + h + "×" + w);
        }
        List<Variant> vs = variant == null ? Variant.ALL : List.of(Variant.of(variant));
        System.out.printf("%-4s %14s %10s   %s%n", "", "parameters", "GFLOPs", "stages: dims / depths / heads (" + h + "×" + w + ", " + classes + " classes)");
        for (Variant v : vs) {
            System.out.printf("%-4s %,14d %10.3f   %s / %s / %s%n", v.name(), Complexity.parameters(v, classes),
                    Complexity.flops(v, classes, h, w) / 1e9, java.util.Arrays.toString(v.embedDims()),
                    java.util.Arrays.toString(v.depths()), java.util.Arrays.toString(v.heads()));
        }
        return 0;
    }
}
