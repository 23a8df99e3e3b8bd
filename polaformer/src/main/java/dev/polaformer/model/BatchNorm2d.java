package dev.polaformer.model;

import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.Tensor;

/**
 * BatchNorm over the channels of channels-last maps, PyTorch defaults (eps 1e-5, momentum 0.1). In a training
 * pass it normalises with the batch statistics and updates the running ones (unbiased variance) and
 * {@code num_batches_tracked}; otherwise it uses the running statistics.
 */
public final class BatchNorm2d extends Module {
    public static final float EPS = 1e-5f, MOMENTUM = 0.1f;

    public final int channels;
    public final Parameter weight, bias, runningMean, runningVar;
    public final Counter batchesTracked;

    public BatchNorm2d(Backend backend, int channels) {
        super(backend);
        this.channels = channels;
        this.weight = parameter("weight", channels);
        this.bias = parameter("bias", channels);
        this.runningMean = buffer("running_mean", channels);
        this.runningVar = buffer("running_var", channels);
        this.batchesTracked = counter("num_batches_tracked");
    }

    private record Saved(Tensor x, Tensor mean, Tensor rstd, boolean batchStatistics) {}

    /** Returns {@code x} itself when an inference plan folded this norm into the convolution before it. */
    public Tensor forward(Tensor x, Pass pass) {
        if (pass.folded(this)) return x;
        Tensor y = pass.empty(x.shape());
        if (pass.training()) {
            Tensor mean = pass.empty(channels), rstd = pass.empty(channels);
            backend.batchNormTrain(x, weight.value(), bias.value(), EPS, MOMENTUM, y, mean, rstd,
                    runningMean.value(), runningVar.value());
            batchesTracked.increment();
            pass.save(new Saved(x, mean, rstd, true));
        } else {
            backend.batchNormEval(x, weight.value(), bias.value(), runningMean.value(), runningVar.value(), EPS, y);
            if (pass.recording()) pass.save(new Saved(x, runningMean.value(), runningRstd(pass), false));
        }
        return y;
    }

    /** {@code 1/sqrt(running_var + eps)}, for a backward through evaluation mode. */
    private Tensor runningRstd(Pass pass) {
        float[] v = runningVar.toArray();
        for (int i = 0; i < v.length; i++) v[i] = (float) (1 / Math.sqrt((double) v[i] + EPS));
        Tensor t = pass.empty(channels);
        t.storage().write(t.offset(), v, 0, v.length);
        return t;
    }

    public Tensor backward(Tensor dy, Pass pass) {
        Saved s = pass.restore(Saved.class);
        Tensor dx = pass.empty(s.x.shape());
        backend.batchNormBackward(s.x, weight.value(), s.mean, s.rstd, s.batchStatistics, dy, dx, weight.grad(), bias.grad());
        return dx;
    }
}
