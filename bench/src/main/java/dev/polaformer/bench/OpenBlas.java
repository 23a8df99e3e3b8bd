package dev.polaformer.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * OpenBLAS's {@code cblas_sgemm}, called through the FFM API as the baseline of the GEMM benchmarks.
 *
 * <p>The library is looked up at {@code -Dpolaformer.bench.openblas=PATH}, else where Debian's
 * {@code libopenblas0-pthread} puts it, else on the loader's search path. {@code cblas_sgemm} is linked as a
 * <em>critical</em> function with heap access, so the benchmark hands it the very {@code float[]} arrays our
 * kernel works on: no copy in or out, as a native caller would see it. OpenBLAS's thread count is set with
 * {@code openblas_set_num_threads}; it can only use as many threads as its pool was started with
 * ({@code OPENBLAS_NUM_THREADS}, default: all processors), which the run script sets.
 *
 * <p>The library is loaded once per JVM and never unloaded ({@link Arena#global()}): it is process-wide state.
 */
final class OpenBlas {
    static final String PROPERTY = "polaformer.bench.openblas";
    private static final List<String> CANDIDATES = List.of(
            "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
            "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
            "/usr/lib/aarch64-linux-gnu/openblas-pthread/libopenblas.so.0",
            "/usr/lib64/libopenblas.so.0");

    private static final int ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112;

    private static OpenBlas instance;
    private static String failure;

    private final String path;
    private final MethodHandle sgemm, setThreads, coreName, config;

    private OpenBlas(String path, SymbolLookup lib) {
        this.path = path;
        Linker linker = Linker.nativeLinker();
        var i = ValueLayout.JAVA_INT;
        var f = ValueLayout.JAVA_FLOAT;
        var p = ValueLayout.ADDRESS;
        this.sgemm = linker.downcallHandle(symbol(lib, "cblas_sgemm"),
                FunctionDescriptor.ofVoid(i, i, i, i, i, i, f, p, i, p, i, f, p, i), Linker.Option.critical(true));
        this.setThreads = linker.downcallHandle(symbol(lib, "openblas_set_num_threads"), FunctionDescriptor.ofVoid(i));
        this.coreName = linker.downcallHandle(symbol(lib, "openblas_get_corename"), FunctionDescriptor.of(p));
        this.config = linker.downcallHandle(symbol(lib, "openblas_get_config"), FunctionDescriptor.of(p));
    }

    private static MemorySegment symbol(SymbolLookup lib, String name) {
        return lib.find(name).orElseThrow(() -> new IllegalStateException("OpenBLAS library has no symbol " + name));
    }

    /** The library, loaded on first use; throws with every place tried when it is not there. */
    static synchronized OpenBlas get() {
        if (instance == null && failure == null) {
            List<String> tried = new ArrayList<>();
            String explicit = System.getProperty(PROPERTY);
            List<String> paths = explicit != null && !explicit.isBlank() ? List.of(explicit) : CANDIDATES;
            for (String candidate : paths) {
                tried.add(candidate);
                if (!Files.isReadable(Path.of(candidate))) continue;
                try {
                    instance = new OpenBlas(candidate, SymbolLookup.libraryLookup(Path.of(candidate), Arena.global()));
                    break;
                } catch (RuntimeException e) {
                    tried.add("  (" + e.getMessage() + ")");
                }
            }
            if (instance == null && explicit == null) {
                tried.add("libopenblas.so.0 on the library search path");
                try {
                    instance = new OpenBlas("libopenblas.so.0", SymbolLookup.libraryLookup("libopenblas.so.0", Arena.global()));
                } catch (RuntimeException e) {
                    // reported below
                }
            }
            if (instance == null) {
                failure = "OpenBLAS not found (tried " + String.join(", ", tried) + "). Install Debian's "
                        + "libopenblas0-pthread or pass -D" + PROPERTY + "=/path/to/libopenblas.so";
            }
        }
        if (instance == null) throw new IllegalStateException(failure);
        return instance;
    }

    /** Null when the library loads, else why not. */
    static String unavailableReason() {
        try {
            get();
            return null;
        } catch (IllegalStateException e) {
            return e.getMessage();
        }
    }

    String path() {
        return path;
    }

    void setThreads(int threads) {
        try {
            setThreads.invokeExact(threads);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** The kernel family OpenBLAS picked for this CPU (e.g. "Haswell"), and its build configuration. */
    String describe() {
        try {
            String core = ((MemorySegment) coreName.invokeExact()).reinterpret(256).getString(0);
            String conf = ((MemorySegment) config.invokeExact()).reinterpret(1024).getString(0);
            return conf.trim() + ", kernels for " + core;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** Row-major {@code C = alpha·op(A)·op(B) + beta·C} on heap arrays, offsets in floats. */
    void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha, float[] a, int aOff, int lda,
               float[] b, int bOff, int ldb, float beta, float[] c, int cOff, int ldc) {
        try {
            sgemm.invokeExact(ROW_MAJOR, transA ? TRANS : NO_TRANS, transB ? TRANS : NO_TRANS, m, n, k, alpha,
                    slice(a, aOff), lda, slice(b, bOff), ldb, beta, slice(c, cOff), ldc);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private static MemorySegment slice(float[] x, int offset) {
        MemorySegment s = MemorySegment.ofArray(x);
        return offset == 0 ? s : s.asSlice((long) offset * Float.BYTES);
    }
}
