package dev.polaformer.cuda;

import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.BackendProvider;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Registers the {@code cuda} backend, preferred over {@code cpu} where it can run.
 *
 * <p>{@link #availability()} runs in every JVM that selects a backend, CPU-only ones included, so it must be
 * cheap and must not touch the generated bindings (their classes expect the libraries loaded). It first looks
 * for the library files ({@link CudaLibraries#find()}, file checks only); only when all are there does it ask
 * the driver for a device, through {@link DriverProbe}: a handful of hand-made downcalls into libcuda alone,
 * so the large libraries (cuBLAS, cuDNN) stay unloaded until the backend is created.
 */
public final class CudaProvider implements BackendProvider {
    public static final String ID = "cuda";

    /** The CUDA 13 libraries need a driver that supports CUDA 13.0 (cuDriverGetVersion 13000) or newer. */
    static final int MIN_DRIVER_VERSION = 13000;

    @Override
    public String id() {
        return ID;
    }

    /** Above cpu (100): a GPU, once found, is what {@code auto} should use. */
    @Override
    public int priority() {
        return 200;
    }

    @Override
    public Availability availability() {
        CudaLibraries.Found found = CudaLibraries.find();
        if (!found.complete()) return Availability.no("CUDA libraries not found: " + found.summary());
        Path driver = found.path(CudaLibraries.Library.DRIVER).orElseThrow();
        DriverProbe.Result r = DriverProbe.probe(driver);
        if (r.problem() != null) return Availability.no(r.problem());
        if (r.driverVersion() < MIN_DRIVER_VERSION) {
            return Availability.no("the NVIDIA driver (" + driver + ") supports CUDA up to " + version(r.driverVersion())
                    + ", but the CUDA 13 libraries need a driver for CUDA " + version(MIN_DRIVER_VERSION) + " or newer");
        }
        if (r.devices() == 0) return Availability.no("the NVIDIA driver (" + driver + ") reports no CUDA device");
        return Availability.yes(r.devices() + " CUDA device(s), first: " + r.firstDevice() + "; driver for CUDA "
                + version(r.driverVersion()) + "; runtime " + found.path(CudaLibraries.Library.RUNTIME).orElseThrow());
    }

    @Override
    public Backend create() {
        return new CudaBackend();
    }

    private static String version(int v) {
        return v / 1000 + "." + v % 1000 / 10;
    }

    /**
     * Asks libcuda for its version and device count without the generated bindings. The library is opened
     * with {@code SymbolLookup.libraryLookup} in the global arena: it stays loaded (unloading a driver that
     * has been initialised is not safe), but it is not registered with this class loader, so the bindings
     * still see only what {@link CudaLibraries#load()} loads. One probe per driver file and JVM.
     */
    static final class DriverProbe {
        record Result(int driverVersion, int devices, String firstDevice, String problem) {
            static Result failed(String problem) {
                return new Result(0, 0, null, problem);
            }
        }

        private static final Map<Path, Result> RESULTS = new ConcurrentHashMap<>();
        private static final int CUDA_SUCCESS = 0;

        private DriverProbe() {}

        static Result probe(Path libcuda) {
            return RESULTS.computeIfAbsent(libcuda, DriverProbe::run);
        }

        @SuppressWarnings("restricted")
        private static Result run(Path libcuda) {
            SymbolLookup lib;
            try {
                lib = SymbolLookup.libraryLookup(libcuda, Arena.global());
            } catch (IllegalArgumentException e) {
                return Result.failed("the NVIDIA driver library " + libcuda + " cannot be opened: " + e.getMessage());
            } catch (IllegalCallerException e) {
                return Result.failed("native access is disabled for this code; start java with "
                        + "--enable-native-access=ALL-UNNAMED to use CUDA (" + e.getMessage() + ")");
            }
            try (Arena arena = Arena.ofConfined()) {
                Linker linker = Linker.nativeLinker();
                MethodHandle cuInit = handle(linker, lib, "cuInit", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
                MemorySegment out = arena.allocate(ValueLayout.JAVA_INT);
                int status = (int) cuInit.invokeExact(0);
                if (status != CUDA_SUCCESS) {
                    return Result.failed("the NVIDIA driver (" + libcuda + ") failed to initialise: cuInit returned "
                            + errorName(linker, lib, arena, status));
                }
                MethodHandle intOut = handle(linker, lib, "cuDriverGetVersion", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS));
                status = (int) intOut.invokeExact(out);
                if (status != CUDA_SUCCESS) return Result.failed("cuDriverGetVersion returned " + errorName(linker, lib, arena, status));
                int version = out.get(ValueLayout.JAVA_INT, 0);
                intOut = handle(linker, lib, "cuDeviceGetCount", FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS));
                status = (int) intOut.invokeExact(out);
                if (status != CUDA_SUCCESS) return Result.failed("cuDeviceGetCount returned " + errorName(linker, lib, arena, status));
                int count = out.get(ValueLayout.JAVA_INT, 0);
                return new Result(version, count, count > 0 ? firstDeviceName(linker, lib, arena) : null, null);
            } catch (Throwable e) { // a missing symbol, or invokeExact's declared Throwable
                return Result.failed("probing the NVIDIA driver " + libcuda + " failed: " + e);
            }
        }

        private static String firstDeviceName(Linker linker, SymbolLookup lib, Arena arena) throws Throwable {
            MethodHandle get = handle(linker, lib, "cuDeviceGet",
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
            MethodHandle name = handle(linker, lib, "cuDeviceGetName",
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
            MemorySegment device = arena.allocate(ValueLayout.JAVA_INT);
            MemorySegment text = arena.allocate(256);
            if ((int) get.invokeExact(device, 0) != CUDA_SUCCESS) return "device 0";
            if ((int) name.invokeExact(text, (int) text.byteSize(), device.get(ValueLayout.JAVA_INT, 0)) != CUDA_SUCCESS) {
                return "device 0";
            }
            return text.getString(0);
        }

        @SuppressWarnings("restricted")
        private static String errorName(Linker linker, SymbolLookup lib, Arena arena, int status) {
            try {
                MethodHandle name = handle(linker, lib, "cuGetErrorName",
                        FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS));
                MemorySegment p = arena.allocate(ValueLayout.ADDRESS);
                if ((int) name.invokeExact(status, p) == CUDA_SUCCESS) {
                    return p.get(ValueLayout.ADDRESS, 0).reinterpret(256).getString(0) + " (" + status + ")";
                }
            } catch (Throwable e) {
                // the number alone then
            }
            return "CUDA driver error " + status;
        }

        @SuppressWarnings("restricted")
        private static MethodHandle handle(Linker linker, SymbolLookup lib, String name, FunctionDescriptor d) {
            return linker.downcallHandle(lib.findOrThrow(name), d);
        }
    }
}
