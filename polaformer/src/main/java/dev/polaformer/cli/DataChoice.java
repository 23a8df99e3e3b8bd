package dev.polaformer.cli;

import dev.polaformer.data.Dataset;
import dev.polaformer.data.FashionMnist;
import dev.polaformer.data.ImageFolder;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * What {@code --data} names: {@code fashion-mnist-subset} (bundled in the jar), {@code fashion-mnist} (Debian's
 * dataset-fashion-mnist package), or a folder in the ImageNet layout with {@code train/} and {@code val/}.
 */
final class DataChoice {
    private DataChoice() {}

    static final String SUBSET = "fashion-mnist-subset", FULL = "fashion-mnist";

    /** @param split {@code train}, or {@code val}/{@code test} for held-out data */
    static Dataset open(String data, String split) throws IOException {
        boolean training = split.equals("train");
        switch (data) {
            case SUBSET -> {
                return FashionMnist.bundled(training ? "train" : "test");
            }
            case FULL -> {
                return FashionMnist.system(training ? "train" : "test");
            }
            default -> {
                Path root = Path.of(data);
                if (!Files.isDirectory(root)) {
                    throw new IllegalArgumentException("--data " + data + ": not " + SUBSET + ", " + FULL
                            + " or a folder with train/ and val/ subfolders");
                }
                Path sub = root.resolve(training ? "train" : "val");
                if (!Files.isDirectory(sub)) throw new IllegalArgumentException("--data " + data + ": no " + sub.getFileName() + "/ folder");
                return ImageFolder.open(sub);
            }
        }
    }
}
