package dev.polaformer.infer;

import dev.polaformer.io.Json;
import dev.polaformer.io.TensorSource;
import dev.polaformer.io.Weights;
import dev.polaformer.model.InferencePlan;
import dev.polaformer.model.Initializer;
import dev.polaformer.model.Pass;
import dev.polaformer.model.PolaFormer;
import dev.polaformer.model.Variant;
import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.Tensor;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * A loaded PolaFormer++ ready for inference: forward passes on tensors, and image classification with the
 * official evaluation preprocessing. The forward runs on an {@link InferencePlan} made at load time (constant,
 * pre-packed weights, BatchNorm folded, memory planned per input shape). One predictor serves concurrent callers:
 * the weights are only read, one call at a time uses the planned memory and the others their own.
 */
public final class Predictor implements AutoCloseable {
    /** One class with its softmax probability. */
    public record Prediction(int index, String label, float probability) {}

    private final PolaFormer model;
    private final InferencePlan plan;
    private final List<String> labels;
    private final Preprocess preprocess;
    private final String weightsDescription;

    private Predictor(PolaFormer model, List<String> labels, Preprocess preprocess, String weightsDescription) {
        this.model = model;
        this.plan = InferencePlan.of(model);
        this.labels = labels;
        this.preprocess = preprocess;
        this.weightsDescription = weightsDescription;
    }

    /** A model with the official random initialisation: its predictions mean nothing; for tests and timing. */
    public static Predictor random(Backend backend, Variant variant, int numClasses, long seed, int imageSize) {
        PolaFormer m = new PolaFormer(backend, variant, numClasses);
        Initializer.initialize(m, seed);
        return new Predictor(m, defaultLabels(numClasses), Preprocess.imagenet(imageSize), "random initialisation (seed " + seed + ")");
    }

    /**
     * Loads weights (safetensors or a PyTorch checkpoint), detecting the variant and the number of classes from
     * the shapes. Class names come from the file's {@code labels} metadata when present, else ImageNet-1k's for
     * 1000 classes, else {@code class N}.
     *
     * @param which  for checkpoints: {@code model} or {@code model_ema} (null = model)
     * @param strict fail on any missing, unexpected or mis-shaped key (the default)
     */
    public static Predictor load(Backend backend, Path weights, String which, boolean strict, int imageSize) throws IOException {
        try (TensorSource src = WeightFiles.open(weights, which)) {
            Variant v = Variant.detect(src::shape, src.names());
            if (!src.names().contains("head.weight")) throw new IllegalArgumentException(src.describe() + " has no head.weight");
            int classes = src.shape("head.weight")[0];
            PolaFormer m = new PolaFormer(backend, v, classes);
            try {
                Weights.load(m, src, "", strict);
            } catch (RuntimeException | IOException e) {
                m.close();
                throw e;
            }
            List<String> labels = labelsFromMetadata(weights, classes);
            return new Predictor(m, labels != null ? labels : defaultLabels(classes), Preprocess.imagenet(imageSize), src.describe());
        }
    }

    public PolaFormer model() {
        return model;
    }

    public List<String> labels() {
        return labels;
    }

    public Preprocess preprocess() {
        return preprocess;
    }

    /** Where the weights came from. */
    public String weightsDescription() {
        return weightsDescription;
    }

    /** Logits {@code (B, K)} for channels-last images {@code (B, H, W, 3)} given as floats. */
    public float[] logits(float[] imagesNhwc, int batch, int height, int width) {
        float[] out = new float[batch * model.numClasses];
        plan.logits(imagesNhwc, batch, height, width, out);
        return out;
    }

    /** The prepared model behind {@link #logits}; its {@code logits} into a caller's array allocates nothing. */
    public InferencePlan plan() {
        return plan;
    }

    /** Runs the forward pass on a tensor of this model's backend; activations go to {@code sink}. */
    public float[] forward(Tensor imagesNhwc, dev.polaformer.model.ActivationSink sink) {
        try (Pass pass = plan.pass(imagesNhwc.dim(0), imagesNhwc.dim(1), imagesNhwc.dim(2))) {
            return model.forward(imagesNhwc, pass, sink).toArray();
        }
    }

    /** The {@code topK} most probable classes of each image, preprocessed as the official evaluation does. */
    public List<List<Prediction>> classify(List<RgbImage> images, int topK) {
        int side = preprocess.crop(), per = side * side * 3;
        float[] batch = new float[images.size() * per];
        for (int i = 0; i < images.size(); i++) preprocess.apply(images.get(i), batch, i * per);
        float[] logits = logits(batch, images.size(), side, side);
        int k = model.numClasses;
        List<List<Prediction>> out = new ArrayList<>();
        for (int i = 0; i < images.size(); i++) out.add(top(logits, i * k, k, topK));
        return out;
    }

    private List<Prediction> top(float[] logits, int offset, int k, int topK) {
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (int j = 0; j < k; j++) max = Math.max(max, logits[offset + j]);
        for (int j = 0; j < k; j++) sum += Math.exp(logits[offset + j] - max);
        List<Prediction> all = new ArrayList<>();
        for (int j = 0; j < k; j++) all.add(new Prediction(j, labels.get(j), (float) (Math.exp(logits[offset + j] - max) / sum)));
        all.sort((a, b) -> Float.compare(b.probability(), a.probability()));
        return List.copyOf(all.subList(0, Math.min(topK, k)));
    }

    public static List<String> defaultLabels(int classes) {
        if (classes == 1000) return imagenetLabels();
        List<String> l = new ArrayList<>();
        for (int i = 0; i < classes; i++) l.add("class " + i);
        return l;
    }

    public static List<String> imagenetLabels() {
        try (var in = Objects.requireNonNull(Predictor.class.getResourceAsStream("/dev/polaformer/imagenet1k_classes.txt"));
             var r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
            return r.lines().filter(s -> !s.isBlank()).toList();
        } catch (IOException e) {
            throw new IllegalStateException("the ImageNet class names are missing from the jar", e);
        }
    }

    /** Class names stored by our trainer in a safetensors file's {@code labels} metadata (a JSON list). */
    private static List<String> labelsFromMetadata(Path weights, int classes) {
        try (var f = dev.polaformer.io.SafetensorsFile.open(weights)) {
            String json = f.metadata().get("labels");
            if (json == null) return null;
            if (!(Json.parse(json) instanceof List<?> l) || l.size() != classes) return null;
            return l.stream().map(String::valueOf).toList();
        } catch (IOException | IllegalArgumentException e) {
            return null; // not a safetensors file, or no usable labels
        }
    }

    @Override
    public void close() {
        plan.close();
        model.close();
    }
}
