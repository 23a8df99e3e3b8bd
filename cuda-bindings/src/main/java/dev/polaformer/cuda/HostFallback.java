package dev.polaformer.cuda;

import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.HeapStorage;
import dev.polaformer.numerics.RopeTables;
import dev.polaformer.numerics.Storage;
import dev.polaformer.numerics.Tensor;
import dev.polaformer.numerics.cpu.CpuBackend;

import java.util.IdentityHashMap;
import java.util.Map;
import java.util.function.Function;

/**
 * Runs an op on the host with the {@code cpu} backend: copies every device storage the arguments touch to a host
 * array, rebuilds each argument as a view with the same offset and strides over it, runs the CPU op, and copies
 * back the storages of the outputs.
 *
 * <p>Why it exists: it is the correctness path for every op that has no device implementation yet (the CUDA
 * kernels are a separate piece of work, see {@code CudaKernels}), so that the whole SPI works on a GPU and the
 * parity suites can run from day one; each op moves onto the device by replacing its fallback call. The CPU
 * backend's own argument checks run on the host views, so shapes are rejected exactly as on {@code cpu}.
 *
 * <p>One host copy per distinct storage keeps aliasing intact: {@code dq}, {@code dk}, {@code dv} that are
 * column slices of one gradient tensor are written into the same host array and uploaded once. Slow (whole
 * storages cross PCIe twice per op); never meant for speed.
 *
 * <p>Strided device views come first, though: the device kernels take contiguous tensors, and the model passes
 * views (the attention's gate is a column slice of the fused q/k/v/g projection). When every argument lives on
 * the device, the op is first retried on the CUDA backend itself with each strided argument copied into a
 * contiguous device temporary (outputs are copied back with the strided-copy kernel), so a view costs two
 * passes over its elements on the device instead of two trips of the whole storage over PCIe. Only what the
 * device still refuses then (an op with no kernel) reaches the host.
 */
final class HostFallback {
    private final CpuBackend cpu;
    private final CudaBackend device;
    /** Set while an op runs on staged device copies: its own fallback then goes to the host, not round again. */
    private final ThreadLocal<Boolean> staging = ThreadLocal.withInitial(() -> false);

    HostFallback(CudaBackend device) {
        this.cpu = new CpuBackend(Math.max(1, Runtime.getRuntime().availableProcessors()));
        this.device = device;
    }

    /** Thrown while arguments are staged when one of them is not on the device: the op goes to the host. */
    private static final class NotOnDevice extends RuntimeException {
        NotOnDevice() {
            super(null, null, false, false);
        }
    }

    /**
     * One call: maps device tensors to host views, remembering which storages to write back; or, when staging,
     * strided device views to contiguous device temporaries.
     */
    final class Call {
        private final String op;
        private final boolean staged;
        private final Map<Storage, HeapStorage> host = new IdentityHashMap<>();
        private final Map<Storage, Boolean> written = new IdentityHashMap<>();
        private final Map<Tensor, Tensor> temporaries = new IdentityHashMap<>();
        private final Map<Tensor, Boolean> stagedOutputs = new IdentityHashMap<>();

        private Call(String op, boolean staged) {
            this.op = op;
            this.staged = staged;
        }

        /** The host view of an input (null stays null). */
        Tensor in(Tensor t) {
            return view(t, false);
        }

        /** The host view of an output, copied back to the device after the op. */
        Tensor out(Tensor t) {
            return view(t, true);
        }

        RopeTables in(RopeTables r) {
            return r == null ? null : new RopeTables(in(r.sin()), in(r.cos()));
        }

        /** The backend to run the op on: the host's cpu backend, or the device itself when staging. */
        Backend backend() {
            return staged ? device : cpu;
        }

        private Tensor view(Tensor t, boolean output) {
            if (t == null) return null;
            if (staged) return stage(t, output);
            CudaStorage device = CudaBackend.storageOf(op, t);
            HeapStorage h = host.get(device);
            if (h == null) {
                float[] a = new float[device.size()];
                device.read(0, a, 0, a.length);
                h = new HeapStorage(CpuBackend.ID, a, null);
                host.put(device, h);
            }
            if (output) written.put(device, true);
            return Tensor.view(h, t.offset(), t.shape(), t.strides());
        }

        /** A contiguous device copy of a strided device view (outputs too: an op may accumulate into them). */
        private Tensor stage(Tensor t, boolean output) {
            if (t.isReleased() || !(t.storage() instanceof CudaStorage)) throw new NotOnDevice();
            if (t.isContiguous()) return t;
            Tensor copy = temporaries.get(t);
            if (copy == null) {
                copy = device.empty(t.shape());
                temporaries.put(t, copy);
                device.copy(t, copy);
            }
            if (output) stagedOutputs.put(t, true);
            return copy;
        }

        private void writeBack() {
            for (Storage s : written.keySet()) {
                float[] a = host.get(s).array();
                s.write(0, a, 0, a.length);
            }
        }

        private void finishStaging(boolean succeeded) {
            try {
                if (succeeded) for (Tensor t : stagedOutputs.keySet()) device.copy(temporaries.get(t), t);
            } finally {
                for (Tensor copy : temporaries.values()) copy.close();
            }
        }
    }

    /**
     * Runs {@code body} on staged device copies where every argument is on the device, else with a fresh host
     * {@link Call}, writing the outputs back (on the host path also when the op throws midway).
     */
    <T> T compute(String op, Function<Call, T> body) {
        if (device != null && device.runsKernels() && !staging.get()) {
            Call staged = new Call(op, true);
            boolean succeeded = false;
            staging.set(true);
            try {
                T result = body.apply(staged);
                succeeded = true;
                return result;
            } catch (NotOnDevice e) {
                // an argument lives on the host: the op runs there
            } finally {
                staging.set(false);
                staged.finishStaging(succeeded);
            }
        }
        Call call = new Call(op, false);
        try {
            return body.apply(call);
        } finally {
            call.writeBack();
        }
    }

    void run(String op, java.util.function.Consumer<Call> body) {
        compute(op, c -> {
            body.accept(c);
            return null;
        });
    }
}
