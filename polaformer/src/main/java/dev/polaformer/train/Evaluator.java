package dev.polaformer.train;

import dev.polaformer.data.Batch;
import dev.polaformer.data.Dataset;
import dev.polaformer.data.Loader;
import dev.polaformer.data.Transform;
import dev.polaformer.model.Pass;
import dev.polaformer.model.PolaFormer;
import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.Tensor;

/** Validation: plain cross-entropy (no smoothing) and top-1/top-5 accuracy over a whole dataset, in eval mode. */
public final class Evaluator {
    private Evaluator() {}

    public record Result(double loss, double top1, double top5, int count) {
        public String describe() {
            return String.format(java.util.Locale.ROOT, "top-1 %.2f%%, top-5 %.2f%%, loss %.4f over %d images",
                    top1, top5, loss, count);
        }
    }

    public static Result evaluate(PolaFormer model, Dataset data, Transform transform, int batchSize, int workers,
                                  Progress progress, String label) {
        Backend backend = model.backend();
        int classes = model.numClasses, side = transform.size();
        double lossSum = 0;
        long correct1 = 0, correct5 = 0, count = 0;
        try (Loader loader = new Loader(data, transform, batchSize, false, false, 0, 0, 0, workers, 2)) {
            if (progress != null) progress.start(label, loader.batchesPerEpoch());
            int done = 0;
            while (loader.hasNext()) {
                Batch b = loader.next();
                float[] logits;
                double batchLoss;
                try (Pass pass = Pass.inference(backend)) {
                    Tensor x = pass.empty(b.count(), side, side, 3);
                    x.storage().write(x.offset(), b.images(), 0, x.size());
                    Tensor out = model.forward(x, pass);
                    Tensor targets = pass.zeros(b.count(), classes);
                    float[] t = new float[b.count() * classes];
                    for (int i = 0; i < b.count(); i++) t[i * classes + b.labels()[i]] = 1;
                    targets.storage().write(targets.offset(), t, 0, t.length);
                    batchLoss = backend.crossEntropy(out, targets, null);
                    logits = out.toArray();
                }
                lossSum += batchLoss * b.count();
                for (int i = 0; i < b.count(); i++) {
                    int rank = rankOf(logits, i * classes, classes, b.labels()[i]);
                    if (rank < 1) correct1++;
                    if (rank < 5) correct5++;
                }
                count += b.count();
                if (progress != null) progress.update(++done, b.count(), lossSum / count, 0);
            }
        }
        if (count == 0) throw new IllegalArgumentException("evaluation set " + label + " yielded no images");
        return new Result(lossSum / count, 100.0 * correct1 / count, 100.0 * correct5 / count, (int) count);
    }

    /** How many classes score strictly higher than the true one (0 = top-1). */
    static int rankOf(float[] logits, int offset, int classes, int label) {
        float target = logits[offset + label];
        int higher = 0;
        for (int k = 0; k < classes; k++) if (logits[offset + k] > target) higher++;
        return higher;
    }
}
