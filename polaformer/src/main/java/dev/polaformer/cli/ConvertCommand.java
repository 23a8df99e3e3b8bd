package dev.polaformer.cli;

import dev.polaformer.io.SafetensorsWriter;
import dev.polaformer.io.TensorSource;
import dev.polaformer.io.TorchCheckpoint;
import dev.polaformer.model.Variant;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.concurrent.Callable;

@Command(name = "convert", mixinStandardHelpOptions = true,
        description = "Converts a PyTorch checkpoint (.pth/.pt, the zip format of torch.save) to safetensors (F32), "
                + "taking the model or the EMA weights and dropping a DDP 'module.' prefix.")
final class ConvertCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "CHECKPOINT") Path in;
    @Parameters(index = "1", paramLabel = "OUT.safetensors") Path out;

    @Option(names = "--ema", description = "Take model_ema (state_dict_ema) instead of model.")
    boolean ema;

    @Option(names = "--key", description = "Take this top-level entry of the checkpoint instead.")
    String key;

    @Option(names = "--verbose") boolean verbose;

    @Override
    public Integer call() throws Exception {
        String which = key != null ? key : ema ? "model_ema" : null;
        try (TorchCheckpoint ckpt = TorchCheckpoint.open(in)) {
            TensorSource src = ckpt.stateDict(which);
            SafetensorsWriter w = new SafetensorsWriter();
            int n = 0;
            for (String name : src.names()) {
                int[] shape = src.shape(name);
                if (name.endsWith("num_batches_tracked")) w.putLongs(name, new long[] {src.longValue(name)}, shape);
                else w.put(name, src.floats(name), shape);
                n++;
            }
            String variant;
            try {
                variant = Variant.detect(src::shape, src.names()).name();
            } catch (IllegalArgumentException e) {
                variant = "unknown";
            }
            w.metadata("source", in.getFileName().toString()).metadata("state_dict", which == null ? "model" : which)
                    .metadata("variant", variant).write(out);
            System.out.println("wrote " + n + " tensors (" + variant + ", " + (which == null ? "model" : which) + ") to " + out);
        }
        return 0;
    }
}
