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
 */
final class HostFallback {
    private final CpuBackend cpu;

    HostFallback() {
        this.cpu = new CpuBackend(Math.max(1, Runtime.getRuntime().availableProcessors()));
    }

    /** One call: maps device tensors to host views, remembering which storages to write back. */
    final class Call {
        private final String op;
        private final Map<Storage, HeapStorage> host = new IdentityHashMap<>();
        private final Map<Storage, Boolean> written = new IdentityHashMap<>();

        private Call(String op) {
            this.op = op;
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

        Backend cpu() {
            return cpu;
        }

        private Tensor view(Tensor t, boolean output) {
            if (t == null) return null;
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

        private void writeBack() {
            for (Storage s : written.keySet()) {
                float[] a = host.get(s).array();
                s.write(0, a, 0, a.length);
            }
        }
    }

    /** Runs {@code body} with a fresh {@link Call} and writes the outputs back, also when the op throws midway. */
    <T> T compute(String op, Function<Call, T> body) {
        Call call = new Call(op);
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
