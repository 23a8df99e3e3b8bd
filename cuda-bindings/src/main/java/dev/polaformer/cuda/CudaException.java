package dev.polaformer.cuda;

import dev.polaformer.cuda.bindings.cublas.Cublas;
import dev.polaformer.cuda.bindings.cudnn.Cudnn;
import dev.polaformer.cuda.bindings.driver.CudaDriver;
import dev.polaformer.cuda.bindings.nvrtc.Nvrtc;
import dev.polaformer.cuda.bindings.runtime.CudaRuntime;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A CUDA, driver, cuBLAS, cuDNN or NVRTC call that returned an error status. The message names the call and
 * the error, e.g. {@code cudaMalloc(268435456 bytes): cudaErrorMemoryAllocation (out of memory)}.
 *
 * <p>Use the check helpers after every call: {@code CudaException.checkRuntime(cudaMalloc(p, n), "cudaMalloc")}.
 * They cost one comparison when the call succeeded; the error names are asked of the library itself only when
 * it failed (through {@link Names}, the one place here that touches the bindings, and only ever after
 * {@link CudaLibraries#load()} since a status can only come from a loaded library). If that lookup fails, the
 * message falls back to the number.
 *
 * <p>Not final: running out of device memory is the backend's {@code CudaOutOfMemoryException}, a subclass
 * whose message adds the pool's state; {@link #isOutOfMemory(Api, int)} tells which statuses mean that.
 */
public class CudaException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** The API a status code comes from; each numbers its errors its own way. */
    public enum Api {
        RUNTIME("CUDA runtime", 0, 2),
        DRIVER("CUDA driver", 0, 2),
        CUBLAS("cuBLAS", 0, 3),
        CUDNN("cuDNN", 0, 4003),
        NVRTC("NVRTC", 0, 1);

        private final String label;
        private final int success;
        private final int outOfMemory;

        // The numbers are the headers' (cudaSuccess/cudaErrorMemoryAllocation, CUDA_SUCCESS/
        // CUDA_ERROR_OUT_OF_MEMORY, CUBLAS_STATUS_ALLOC_FAILED, CUDNN_STATUS_ALLOC_FAILED,
        // NVRTC_ERROR_OUT_OF_MEMORY), written out so that checking a success loads no binding class;
        // CudaExceptionTest compares them with the generated constants.
        Api(String label, int success, int outOfMemory) {
            this.label = label;
            this.success = success;
            this.outOfMemory = outOfMemory;
        }

        public String label() {
            return label;
        }

        int success() {
            return success;
        }

        int outOfMemory() {
            return outOfMemory;
        }
    }

    private final Api api;
    private final int status;
    private final String call;

    /** For subclasses that write their own message (e.g. out of memory with the pool's state). */
    protected CudaException(Api api, int status, String call, String message) {
        super(message);
        this.api = api;
        this.status = status;
        this.call = call;
    }

    private CudaException(Api api, int status, String call) {
        this(api, status, call, call + ": " + describe(api, status));
    }

    public Api api() {
        return api;
    }

    public int status() {
        return status;
    }

    /** The call as the caller named it, e.g. {@code cudaMalloc(268435456 bytes)}. */
    public String call() {
        return call;
    }

    public static void checkRuntime(int status, String call) {
        check(status, call, Api.RUNTIME);
    }

    public static void checkDriver(int status, String call) {
        check(status, call, Api.DRIVER);
    }

    public static void checkCublas(int status, String call) {
        check(status, call, Api.CUBLAS);
    }

    public static void checkCudnn(int status, String call) {
        check(status, call, Api.CUDNN);
    }

    public static void checkNvrtc(int status, String call) {
        check(status, call, Api.NVRTC);
    }

    /** Throws a {@link CudaException} naming {@code call} and the error unless {@code status} is success. */
    public static void check(int status, String call, Api api) {
        if (status != api.success()) throw new CudaException(api, status, call);
    }

    /** Whether {@code status} means the device (or the library's host side) ran out of memory. */
    public static boolean isOutOfMemory(Api api, int status) {
        return status == api.outOfMemory();
    }

    /**
     * The error's name and explanation as the library gives them, e.g. {@code cudaErrorMemoryAllocation (out of
     * memory)}; {@code CUDA runtime error 2} when the library cannot be asked.
     */
    public static String describe(Api api, int status) {
        try {
            String d = Names.of(api, status);
            if (d != null && !d.isBlank()) return d;
        } catch (RuntimeException | LinkageError e) {
            // Library not loaded or symbol missing (e.g. a status checked in a test): the number must do.
        }
        return api.label() + " error " + status;
    }

    /** Asks the libraries for error names. Reached only with a failing status, i.e. after load(). */
    private static final class Names {
        private Names() {}

        static String of(Api api, int status) {
            return switch (api) {
                case RUNTIME -> both(string(CudaRuntime.cudaGetErrorName(status)),
                        string(CudaRuntime.cudaGetErrorString(status)));
                case DRIVER -> driver(status);
                case CUBLAS -> both(string(Cublas.cublasGetStatusName(status)),
                        string(Cublas.cublasGetStatusString(status)));
                case CUDNN -> both(string(Cudnn.cudnnGetErrorString(status)), cudnnLastError());
                case NVRTC -> string(Nvrtc.nvrtcGetErrorString(status));
            };
        }

        private static String driver(int status) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment name = arena.allocate(ValueLayout.ADDRESS);
                MemorySegment text = arena.allocate(ValueLayout.ADDRESS);
                // Both return CUDA_ERROR_INVALID_VALUE for a number they do not know; then the text stays null.
                String n = CudaDriver.cuGetErrorName(status, name) == 0 ? string(name.get(ValueLayout.ADDRESS, 0)) : null;
                String t = CudaDriver.cuGetErrorString(status, text) == 0 ? string(text.get(ValueLayout.ADDRESS, 0)) : null;
                return both(n, t);
            }
        }

        /** cuDNN 9 keeps a message about the last failure in this thread, often naming the bad parameter. */
        private static String cudnnLastError() {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment buffer = arena.allocate(1024);
                Cudnn.cudnnGetLastErrorString(buffer, buffer.byteSize());
                return buffer.getString(0);
            }
        }

        private static String both(String name, String text) {
            if (name == null || name.isBlank()) return text;
            if (text == null || text.isBlank() || text.equals(name)) return name;
            return name + " (" + text + ")";
        }

        /** A NUL-terminated string the library returned (static storage, never freed by us). */
        @SuppressWarnings("restricted")
        private static String string(MemorySegment cString) {
            if (cString == null || cString.equals(MemorySegment.NULL)) return null;
            return cString.reinterpret(4096).getString(0);
        }
    }
}
