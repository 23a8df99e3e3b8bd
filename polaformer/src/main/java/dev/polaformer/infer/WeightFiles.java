package dev.polaformer.infer;

import dev.polaformer.io.SafetensorsFile;
import dev.polaformer.io.TensorSource;
import dev.polaformer.io.TorchCheckpoint;
import dev.polaformer.train.Checkpoint;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Opens a weights file by its content: safetensors, or a PyTorch zip checkpoint ({@code .pth}, {@code .pt}). */
public final class WeightFiles {
    private WeightFiles() {}

    /**
     * @param which for checkpoints, the state dict to take ({@code model}, {@code model_ema}, ...; null = {@code model});
     *              ignored for safetensors
     */
    public static TensorSource open(Path path, String which) throws IOException {
        if (!Files.isRegularFile(path)) throw new IOException(path + ": no such file");
        byte[] head = new byte[4];
        try (var in = Files.newInputStream(path)) {
            int n = in.readNBytes(head, 0, 4);
            if (n == 4 && head[0] == 'P' && head[1] == 'K') {
                TorchCheckpoint ckpt = TorchCheckpoint.open(path);
                try {
                    return TensorSource.closing(ckpt.stateDict(which), ckpt);
                } catch (RuntimeException e) {
                    ckpt.close();
                    throw e;
                }
            }
        }
        SafetensorsFile f = SafetensorsFile.open(path);
        TensorSource all = TensorSource.of(f);
        if (!f.metadata().containsKey(Checkpoint.META)) return all;
        // a training checkpoint of ours: the model under model.*, the EMA under ema.*
        String prefix = "model_ema".equals(which) ? "ema." : "model.";
        TensorSource inner = Checkpoint.prefixed(all, prefix);
        if (inner.names().isEmpty()) {
            f.close();
            throw new IllegalArgumentException(path + " holds no " + prefix + "* weights");
        }
        return TensorSource.closing(inner, f);
    }
}
