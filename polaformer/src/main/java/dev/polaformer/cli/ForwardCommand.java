package dev.polaformer.cli;

import dev.polaformer.infer.Predictor;
import dev.polaformer.io.SafetensorsFile;
import dev.polaformer.io.SafetensorsWriter;
import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "forward", mixinStandardHelpOptions = true,
        description = "Runs the model on an NCHW input tensor from a safetensors file and writes the logits "
                + "(and, with --activations, every block's output, named as in the golden files) as safetensors.")
final class ForwardCommand implements Callable<Integer> {
    @Option(names = {"-i", "--input"}, required = true, description = "safetensors file holding the input (B,3,H,W).")
    Path input;

    @Option(names = "--tensor", defaultValue = "input", description = "Name of the input tensor (default: ${DEFAULT-VALUE}).")
    String tensor;

    @Option(names = {"-o", "--output"}, required = true, description = "safetensors file to write.")
    Path output;

    @Mixin
    WeightsChoice weights;

    @Option(names = "--activations", description = "Also write act.patch_embed, act.layers.i.blocks.j, act.layers.i, act.pooled.")
    boolean activations;

    @Mixin
    Common common;

    @Override
    public Integer call() throws Exception {
        Backend backend = common.backend();
        float[] nchw;
        int[] shape;
        try (SafetensorsFile f = SafetensorsFile.open(input)) {
            if (!f.contains(tensor)) {
                throw new IllegalArgumentException(input + " has no tensor '" + tensor + "' (it has " + f.entries().keySet() + ")");
            }
            shape = f.entry(tensor).shape();
            if (shape.length != 4 || shape[1] != 3) {
                throw new IllegalArgumentException(input + ": tensor '" + tensor + "' must be (B, 3, H, W), got "
                        + java.util.Arrays.toString(shape));
            }
            nchw = f.floats(tensor);
        }
        int b = shape[0], h = shape[2], w = shape[3];
        SafetensorsWriter out = new SafetensorsWriter();
        Map<String, float[]> acts = new LinkedHashMap<>();
        Map<String, int[]> actShapes = new LinkedHashMap<>();
        try (Predictor p = weights.open(backend, 224);
             Tensor x = backend.fromArray(nchw, b, 3, h, w); Tensor nhwc = backend.empty(b, h, w, 3)) {
            backend.copy(x.permute(0, 2, 3, 1), nhwc);
            float[] logits = p.forward(nhwc, (name, t) -> {
                if (!activations) return;
                if (t.rank() == 4) {
                    float[] nc = new float[t.size()];
                    try (Tensor tmp = backend.empty(t.dim(0), t.dim(3), t.dim(1), t.dim(2))) {
                        backend.copy(t.permute(0, 3, 1, 2), tmp);
                        nc = tmp.toArray();
                    }
                    acts.put(name, nc);
                    actShapes.put(name, new int[] {t.dim(0), t.dim(3), t.dim(1), t.dim(2)});
                } else {
                    acts.put(name, t.toArray());
                    actShapes.put(name, new int[] {t.dim(0), t.dim(1), 1, 1});
                }
            });
            out.put("logits", logits, b, p.model().numClasses);
            acts.forEach((name, v) -> out.put("act." + name, v, actShapes.get(name)));
            out.metadata("weights", p.weightsDescription()).metadata("variant", p.model().variant.name())
                    .metadata("backend", backend.id());
        }
        out.write(output);
        System.out.println("wrote logits" + (activations ? " and " + acts.size() + " activations" : "") + " to " + output);
        return 0;
    }
}
