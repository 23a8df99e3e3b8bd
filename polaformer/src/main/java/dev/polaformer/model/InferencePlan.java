package dev.polaformer.model;

import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.Shapes;
import dev.polaformer.numerics.Tensor;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * A {@link PolaFormer} prepared for evaluation, once, when it is loaded: what a forward pass needs that does not
 * depend on the input, computed ahead, and the memory of the passes planned per input shape.
 *
 * <ul>
 *   <li><b>Constant weights.</b> Every linear and dense-convolution weight is copied into a
 *       {@link Backend#constant constant} tensor, which a backend may keep in its kernels' layout: the
 *       {@code cpu} backend packs each into GEMM panels once, instead of on every call (at batch 1 the packing of
 *       the last stage's weights cost as much as their products).</li>
 *   <li><b>BatchNorm folded.</b> Every BatchNorm follows a convolution (the stem's four, each stage's
 *       {@code PatchMerging}, the final {@code proj}); in evaluation it is an affine map per channel,
 *       {@code y = (x − mean)·s + beta} with {@code s = gamma / sqrt(var + eps)}, so it becomes part of the
 *       convolution: {@code W'[co] = W[co]·s[co]}, {@code b' = (b − mean)·s + beta} (computed in double). The
 *       normalisation pass over the activations disappears.</li>
 *   <li><b>Layer scales and depthwise residuals folded</b> into the weights next to them ({@link #foldBlocks}).</li>
 *   <li><b>Planned memory</b> ({@link #pass}). A forward of a given input shape asks for the same intermediates in
 *       the same order every time. The first pass of a shape records them, reusing a released buffer for a later
 *       request of the same size as the heap pool would; later passes of that shape get exactly those tensors
 *       back, in that order, with no allocation and no pool traffic.</li>
 *   <li><b>Recorded kernels</b> ({@link #logits}). Where the backend can {@link Backend#record record}, the first
 *       {@link #logits} call of a shape records the kernels of its forward pass over the planned tensors; later
 *       calls replay them. Views, shape checks and per-op bookkeeping (about 45 KB of garbage per b0 forward) are
 *       gone: a replay allocates nothing.</li>
 * </ul>
 *
 * <p>The plan is a snapshot: changing the model's weights afterwards (training, loading) does not reach it; make a
 * new plan. It serves one pass at a time (a second concurrent {@link #pass} gets an unplanned one).
 */
public final class InferencePlan implements AutoCloseable {
    private final PolaFormer model;
    private final Backend backend;
    private final Map<Parameter, Tensor> constants = new IdentityHashMap<>();
    /** Modules whose work the prepared weights of a neighbour took over (see {@link Pass#folded}). */
    private final Map<Module, Boolean> folded = new IdentityHashMap<>();
    /** One per input shape seen; a few at most, so a list searched without boxing the shape into a key. */
    private final List<Memory> memories = new ArrayList<>();
    private boolean inUse;

    private InferencePlan(PolaFormer model) {
        this.model = model;
        this.backend = model.backend();
    }

    /** Prepares {@code model}'s current weights; the plan owns the copies it makes (close it). */
    public static InferencePlan of(PolaFormer model) {
        InferencePlan p = new InferencePlan(model);
        try {
            model.forEachConvThenNorm(p::fold);
            p.foldBlocks(model);
            p.constantWeights(model);
        } catch (RuntimeException e) {
            p.close();
            throw e;
        }
        return p;
    }

    public PolaFormer model() {
        return model;
    }

    /**
     * Logits {@code (B, K)} of channels-last images {@code (B, H, W, 3)}, copied into {@code logits}.
     *
     * <p>On a backend that {@link Backend#canRecord records} ({@code cpu}), the first call of an input shape runs
     * the forward pass with {@link Backend#record} and keeps the recording with the shape's planned memory; later
     * calls of that shape write the images into the planned input and replay the kernels: no Java code of the
     * model runs, and nothing is allocated.
     */
    public void logits(float[] imagesNhwc, int batch, int height, int width, float[] logits) {
        long expected = (long) batch * height * width * PolaFormer.IN_CHANNELS;
        if (batch < 0 || height < 0 || width < 0 || imagesNhwc.length != expected) {
            throw new IllegalArgumentException("expected " + expected + " floats for " + batch + " images of "
                    + height + "×" + width + "×3, got " + imagesNhwc.length);
        }
        Memory recorded = claimReplay(batch, height, width);
        if (recorded != null) {
            Replay replay = recorded.replay;
            try {
                replay.input.storage().write(replay.input.offset(), imagesNhwc, 0, imagesNhwc.length);
                replay.kernels.replay();
                replay.output.storage().read(replay.output.offset(), logits, 0, replay.output.size());
            } finally {
                finished(recorded);
            }
            return;
        }
        try (Pass pass = pass(batch, height, width)) {
            Memory m = pass.plannedMemory();
            boolean record = m != null && backend.canRecord();
            Tensor x = pass.empty(batch, height, width, PolaFormer.IN_CHANNELS);
            x.storage().write(x.offset(), imagesNhwc, 0, imagesNhwc.length);
            Tensor y;
            if (record) {
                Tensor[] out = new Tensor[1];
                Backend.Recording kernels = backend.record(() -> out[0] = model.forward(x, pass));
                y = out[0];
                // only a pass that kept to the plan used nothing but planned tensors, which outlive it
                if (m.onPlan()) m.replay = new Replay(x, y, kernels);
            } else {
                y = model.forward(x, pass);
            }
            y.storage().read(y.offset(), logits, 0, y.size());
        }
    }

    /** The recorded forward of one input shape: its planned input and output, and the kernels between. */
    private record Replay(Tensor input, Tensor output, Backend.Recording kernels) {}

    /** The shape's memory, now reserved for the caller, if it holds a replay; null when not or the plan is busy. */
    private synchronized Memory claimReplay(int batch, int height, int width) {
        if (inUse) return null;
        Memory m = memoryOf(batch, height, width);
        if (m == null || m.replay == null) return null;
        inUse = true;
        return m;
    }

    /**
     * An evaluation pass that uses the prepared weights and the memory planned for inputs of this shape
     * ({@code batch × height × width}). Its tensors stay with the plan when the pass closes and are handed out
     * again, overwritten, by the next pass of the same shape: copy out what must outlive the pass (as
     * {@link #logits} does).
     */
    public synchronized Pass pass(int batch, int height, int width) {
        if (inUse) return Pass.inference(this, null);
        inUse = true;
        Memory m = memoryOf(batch, height, width);
        if (m == null) memories.add(m = new Memory(backend, batch, height, width));
        m.start();
        if (m.pass == null) m.pass = Pass.inference(this, m);
        return m.pass;
    }

    private Memory memoryOf(int batch, int height, int width) {
        for (int i = 0; i < memories.size(); i++) {  // indexed: an iterator per call was the last allocation
            Memory m = memories.get(i);
            if (m.batch == batch && m.height == height && m.width == width) return m;
        }
        return null;
    }

    synchronized void finished(Memory m) {
        if (m == null) return;
        m.finish();
        inUse = false;
    }

    /** The tensor a pass should read for {@code p}: its prepared constant, or its own value. */
    Tensor value(Parameter p) {
        Tensor t = constants.get(p);
        return t != null ? t : p.value();
    }

    /** Whether the prepared weights took over {@code m}'s work: see {@link Pass#folded}. */
    boolean isFolded(Module m) {
        return folded.containsKey(m);
    }

    /**
     * In every block: the layer scales {@code gamma_1}, {@code gamma_2} go into the last linear of their branch
     * ({@code attn.proj}, {@code ffn.fc2}: row {@code c} of the weight and the bias times {@code gamma[c]}), and
     * the residuals around the two depthwise convolutions ({@code x + pos(x)}, {@code g + dwconv(g)}) into their
     * centre taps (+1): a depthwise convolution plus its input is the same convolution with the centre weight one
     * larger. Four passes over the activations per block go.
     */
    private void foldBlocks(Module m) {
        if (m instanceof Block b) {
            if (b.gamma1 != null && b.gamma2 != null) {
                scaleRows(b.attn.proj, b.gamma1.toArray());
                scaleRows(b.ffn.fc2, b.gamma2.toArray());
                folded.put(b, Boolean.TRUE);
            }
            addIdentity(b.pos);
            addIdentity(b.ffn.dwconv);
            return;
        }
        for (Module child : m.children()) foldBlocks(child);
    }

    private void scaleRows(Linear l, float[] gamma) {
        float[] w = l.weight.toArray(), b = l.bias.toArray();
        for (int o = 0; o < l.out; o++) {
            for (int i = o * l.in; i < (o + 1) * l.in; i++) w[i] *= gamma[o];
            b[o] *= gamma[o];
        }
        keep(l.weight, w);
        keep(l.bias, b);
    }

    private void addIdentity(DepthwiseConv2d conv) {
        float[] w = conv.weight.toArray();
        int taps = conv.kernel * conv.kernel, centre = conv.kernel / 2 * conv.kernel + conv.kernel / 2;
        for (int c = 0; c < conv.channels; c++) w[c * taps + centre] += 1f;
        keep(conv.weight, w);
        folded.put(conv, Boolean.TRUE);
    }

    /** Keeps {@code values} as the constant that passes read for {@code p}. */
    private void keep(Parameter p, float[] values) {
        try (Tensor t = backend.fromArray(values, p.shape())) {
            Tensor old = constants.put(p, backend.constant(t));
            if (old != null) old.close();
        }
    }

    private void fold(Conv2d conv, BatchNorm2d norm) {
        float[] w = conv.weight.toArray(), b = conv.bias.toArray();
        float[] gamma = norm.weight.toArray(), beta = norm.bias.toArray();
        float[] mean = norm.runningMean.toArray(), var = norm.runningVar.toArray();
        int out = conv.out, per = w.length / out;
        for (int co = 0; co < out; co++) {
            double s = gamma[co] / Math.sqrt((double) var[co] + BatchNorm2d.EPS);
            for (int i = co * per; i < (co + 1) * per; i++) w[i] = (float) (w[i] * s);
            b[co] = (float) ((b[co] - (double) mean[co]) * s + beta[co]);
        }
        keep(conv.weight, w);
        keep(conv.bias, b);
        folded.put(norm, Boolean.TRUE);
    }

    private void constantWeights(Module m) {
        if (m instanceof Linear l) {
            constants.computeIfAbsent(l.weight, p -> backend.constant(p.value()));
        } else if (m instanceof Conv2d c) {
            constants.computeIfAbsent(c.weight, p -> backend.constant(p.value()));
        }
        for (Module child : m.children()) constantWeights(child);
    }

    @Override
    public synchronized void close() {
        for (Tensor t : constants.values()) t.close();
        constants.clear();
        for (Memory m : memories) m.close();
        memories.clear();
    }

    /**
     * The intermediates of the passes of one input shape. Recording (the first pass): each request gets a buffer
     * released earlier in the pass with the same size, else a new one, and is appended to {@code tape}. Replaying
     * (later passes): request {@code i} gets {@code tape[i]} back, after a check that it has the requested shape;
     * a pass that asks for something else (which a deterministic forward does not) gets ordinary tensors from
     * there on, and the next pass records again.
     */
    static final class Memory implements AutoCloseable {
        private final Backend backend;
        private final List<Tensor> tape = new ArrayList<>();
        /** Recording: released buffers by size, and which buffer each storage is. */
        private final Map<Integer, ArrayList<Tensor>> free = new java.util.HashMap<>();
        private final Map<Object, Tensor> bufferOf = new IdentityHashMap<>();
        private final List<Tensor> buffers = new ArrayList<>();
        private boolean recorded, recording, diverged;
        /** The one pass object of this shape, reused (closing it hands the memory back, it stays usable). */
        private Pass pass;
        /** The recorded forward over these tensors; dropped when they are planned anew. */
        private Replay replay;
        private int next;

        private final int batch, height, width;

        Memory(Backend backend, int batch, int height, int width) {
            this.backend = backend;
            this.batch = batch;
            this.height = height;
            this.width = width;
        }

        void start() {
            next = 0;
            diverged = false;
            recording = !recorded;
            if (recording) {
                replay = null;  // its kernels write the buffers closed here
                for (Tensor t : tape) if (t.isOwner()) t.close();
                tape.clear();
                free.clear();
                bufferOf.clear();
                for (Tensor b : buffers) b.close();
                buffers.clear();
            }
        }

        /** The next planned tensor of {@code shape}, or null when this pass left the plan. */
        Tensor take(int[] shape) {
            if (diverged) return null;
            if (!recording) {
                if (next < tape.size()) {
                    Tensor t = tape.get(next);
                    if (Shapes.hasShape(t, shape)) {
                        next++;
                        return t;
                    }
                }
                diverged = true;
                recorded = false;
                return null;
            }
            int size = Math.toIntExact(Shapes.checkedSize(shape));
            ArrayList<Tensor> same = free.get(size);
            Tensor buffer = same == null || same.isEmpty() ? null : same.remove(same.size() - 1);
            if (buffer == null) {
                buffer = backend.empty(size);
                buffers.add(buffer);
                bufferOf.put(buffer.storage(), buffer);
            }
            Tensor t = buffer.reshape(shape);
            tape.add(t);
            next++;
            return t;
        }

        /** A tensor of the plan is no longer needed in this pass: while recording, its buffer may serve a later request. */
        void release(Tensor t) {
            if (!recording || t.isReleased()) return;
            Tensor buffer = bufferOf.get(t.storage());
            if (buffer == null) return;
            ArrayList<Tensor> same = free.computeIfAbsent(buffer.size(), k -> new ArrayList<>());
            if (!same.contains(buffer)) same.add(buffer);
        }

        /** Whether every tensor this pass took so far was a planned one. */
        boolean onPlan() {
            return !diverged;
        }

        boolean owns(Tensor t) {
            return bufferOf.containsKey(t.storage());
        }

        void finish() {
            if (recording && !diverged) recorded = true;
            recording = false;
        }

        @Override
        public void close() {
            for (Tensor b : buffers) b.close();
            buffers.clear();
            tape.clear();
        }
    }
}
