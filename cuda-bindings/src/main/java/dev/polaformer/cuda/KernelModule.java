package dev.polaformer.cuda;

import dev.polaformer.cuda.bindings.driver.CudaDriver;
import dev.polaformer.cuda.bindings.nvrtc.Nvrtc;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.JarURLConnection;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.jar.JarFile;
import java.util.stream.Stream;

import static dev.polaformer.cuda.CudaException.checkDriver;
import static dev.polaformer.cuda.CudaException.checkNvrtc;

/**
 * The kernels on the device: loads the prebuilt fatbin, or compiles the kernel sources with NVRTC when there is
 * none for this device, and launches kernels by name on the backend's stream.
 *
 * <p>Loading order: the resource {@value #FATBIN} (built by nvcc for sm_80, sm_90 and compute_90 PTX) with
 * {@code cuModuleLoadData}; if it is missing, or the driver says it holds nothing this device can run
 * ({@code CUDA_ERROR_NO_BINARY_FOR_GPU}, an invalid or too new PTX), {@value #MAIN_SOURCE} under
 * {@value #SOURCES} is compiled with NVRTC for the device's compute capability, the other {@code .cu}/{@code .cuh}
 * files there passed as its headers. Compiled images are cached in
 * {@code ~/.cache/polaformer/cuda/<hash>/} (hash of the sources, the architecture and the NVRTC version; the
 * folder can be moved with {@code -Dpolaformer.cuda.cache}), so the compile is paid once per machine.
 *
 * <p>A failing launch is reported naming the kernel and its configuration. Launches are asynchronous, so an
 * error inside a kernel surfaces at a later call; {@code -Dpolaformer.cuda.sync=true} synchronises after every
 * launch so the failing kernel is the one named (for debugging; slow).
 */
final class KernelModule implements KernelLauncher {
    static final String FATBIN = "dev/polaformer/cuda/polaformer_kernels.fatbin";
    static final String SOURCES = "dev/polaformer/cuda/kernels/";
    /** The one translation unit that includes every kernel family (the fatbin is built from it too). */
    static final String MAIN_SOURCE = "polaformer_kernels.cu";

    // CUresult values meaning "this image has nothing for this device" (cuda.h): fall back to NVRTC then.
    private static final int CUDA_ERROR_INVALID_IMAGE = 200;
    private static final int CUDA_ERROR_NO_BINARY_FOR_GPU = 209;
    private static final int CUDA_ERROR_INVALID_PTX = 218;
    private static final int CUDA_ERROR_UNSUPPORTED_PTX_VERSION = 222;

    private final CudaContext context;
    private final List<MemorySegment> modules = new ArrayList<>();
    private final Map<String, MemorySegment> functions = new ConcurrentHashMap<>();
    private final boolean syncEveryLaunch = Boolean.getBoolean("polaformer.cuda.sync");
    private final String origin;
    /** Dynamic shared memory a launch gets without opting in; beyond it the kernel must be allowed more once. */
    private static final int DEFAULT_SHARED_LIMIT = 48 * 1024;
    private final Map<String, Integer> sharedAllowed = new ConcurrentHashMap<>();

    KernelModule(CudaContext context, int ccMajor, int ccMinor) {
        this.context = context;
        context.bind();
        byte[] fatbin = resource(FATBIN);
        String from = null;
        if (fatbin != null) {
            int status = loadImage(fatbin);
            if (status == 0) {
                from = "fatbin";
            } else if (!noImageForDevice(status)) {
                checkDriver(status, "cuModuleLoadData(" + FATBIN + ")");
            }
        }
        if (from == null) from = compileSources(ccMajor, ccMinor, fatbin == null ? "no fatbin in the jar"
                : "the fatbin holds no image for sm_" + ccMajor + ccMinor);
        origin = from;
    }

    /** Where the kernels came from: {@code fatbin} or the NVRTC compile and its cache folder. */
    String origin() {
        return origin;
    }

    /**
     * Launches {@code kernel} on the backend's stream. {@code args} are device pointers ({@link MemorySegment}),
     * {@link Integer}, {@link Float}, {@link Long} or {@link Double}, in the kernel's parameter order.
     */
    @Override
    public void launch(String kernel, int gridX, int gridY, int gridZ, int blockX, int blockY, int blockZ, int sharedBytes,
                Object... args) {
        context.bind();
        MemorySegment function = function(kernel);
        if (sharedBytes > DEFAULT_SHARED_LIMIT) allowSharedMemory(kernel, function, sharedBytes);
        // One confined arena per launch: cuLaunchKernel copies the parameter values before it returns, so the
        // slots may go as soon as the call is back.
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment params = parameters(arena, kernel, args);
            int status = CudaDriver.cuLaunchKernel(function, gridX, gridY, gridZ, blockX, blockY, blockZ, sharedBytes,
                    context.stream, params, MemorySegment.NULL);
            checkDriver(status, launchName(kernel, gridX, gridY, gridZ, blockX, blockY, blockZ, sharedBytes));
        }
        if (syncEveryLaunch) {
            try {
                context.synchronize();
            } catch (CudaException e) {
                throw new CudaException(e.api(), e.status(), e.call(), "kernel " + kernel + " failed: " + e.getMessage());
            }
        }
    }

    private void allowSharedMemory(String kernel, MemorySegment function, int bytes) {
        Integer allowed = sharedAllowed.get(kernel);
        if (allowed != null && allowed >= bytes) return;
        checkDriver(CudaDriver.cuFuncSetAttribute(function, CudaDriver.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES(),
                bytes), "cuFuncSetAttribute(" + kernel + ", max dynamic shared memory " + bytes + " B)");
        sharedAllowed.merge(kernel, bytes, Math::max);
    }

    private static String launchName(String kernel, int gx, int gy, int gz, int bx, int by, int bz, int shared) {
        return "cuLaunchKernel(" + kernel + ", grid " + gx + "×" + gy + "×" + gz + ", block " + bx + "×" + by + "×" + bz
                + ", " + shared + " B shared)";
    }

    /** cuLaunchKernel's {@code kernelParams}: an array of pointers, one per argument, each to a copy of its value. */
    static MemorySegment parameters(Arena arena, String kernel, Object... args) {
        MemorySegment params = arena.allocate(ValueLayout.ADDRESS, Math.max(1, args.length));
        for (int i = 0; i < args.length; i++) params.setAtIndex(ValueLayout.ADDRESS, i, slot(arena, kernel, i, args[i]));
        return params;
    }

    private static MemorySegment slot(Arena arena, String kernel, int index, Object arg) {
        return switch (arg) {
            case MemorySegment p -> arena.allocateFrom(ValueLayout.ADDRESS, p);
            case Integer v -> arena.allocateFrom(ValueLayout.JAVA_INT, v);
            case Float v -> arena.allocateFrom(ValueLayout.JAVA_FLOAT, v);
            case Long v -> arena.allocateFrom(ValueLayout.JAVA_LONG, v);
            case Double v -> arena.allocateFrom(ValueLayout.JAVA_DOUBLE, v);
            case null -> throw new IllegalArgumentException(kernel + ": argument " + index + " is null");
            default -> throw new IllegalArgumentException(kernel + ": argument " + index + " has unsupported type "
                    + arg.getClass().getName());
        };
    }

    /** Whether the loaded kernels include {@code kernel} (families may land one after another). */
    boolean has(String kernel) {
        try {
            function(kernel);
            return true;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    private MemorySegment function(String kernel) {
        MemorySegment f = functions.get(kernel);
        if (f != null) return f;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            MemorySegment name = arena.allocateFrom(kernel);
            for (MemorySegment module : modules) {
                if (CudaDriver.cuModuleGetFunction(out, module, name) == 0) {
                    f = out.get(ValueLayout.ADDRESS, 0);
                    functions.put(kernel, f);
                    return f;
                }
            }
        }
        throw new IllegalArgumentException("no kernel named " + kernel + " in the loaded kernels (" + origin + ")");
    }

    private int loadImage(byte[] image) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            // PTX must be NUL-terminated; a trailing zero is harmless for fatbin and cubin.
            MemorySegment data = arena.allocate(image.length + 1L);
            MemorySegment.copy(image, 0, data, ValueLayout.JAVA_BYTE, 0, image.length);
            int status = CudaDriver.cuModuleLoadData(out, data);
            if (status == 0) modules.add(out.get(ValueLayout.ADDRESS, 0));
            return status;
        }
    }

    private static boolean noImageForDevice(int status) {
        return status == CUDA_ERROR_NO_BINARY_FOR_GPU || status == CUDA_ERROR_INVALID_IMAGE
                || status == CUDA_ERROR_INVALID_PTX || status == CUDA_ERROR_UNSUPPORTED_PTX_VERSION;
    }

    // ================================================================ NVRTC

    private String compileSources(int major, int minor, String why) {
        Map<String, String> sources = kernelSources();
        String main = sources.get(MAIN_SOURCE);
        if (main == null) {
            throw new IllegalStateException("no CUDA kernels: " + why + ", and no " + SOURCES + MAIN_SOURCE
                    + " on the class path (is the native jar there?)");
        }
        String arch = "sm_" + major + minor;
        Path cache = cacheFolder(sources, arch);
        Path cubin = cache.resolve(MAIN_SOURCE.replace(".cu", ".cubin"));
        byte[] image = null;
        try {
            if (Files.isRegularFile(cubin)) image = Files.readAllBytes(cubin);
        } catch (IOException ignored) {
            // a damaged cache entry is compiled again
        }
        if (image == null) {
            Map<String, String> headers = new TreeMap<>(sources);
            headers.remove(MAIN_SOURCE);
            image = compile(MAIN_SOURCE, main, headers, arch);
            try {
                Files.createDirectories(cache);
                Path tmp = Files.createTempFile(cache, "cubin", ".tmp");
                Files.write(tmp, image);
                Files.move(tmp, cubin, java.nio.file.StandardCopyOption.ATOMIC_MOVE,
                        java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            } catch (IOException ignored) {
                // no cache (read-only home): compile again next time
            }
        }
        checkDriver(loadImage(image), "cuModuleLoadData(" + MAIN_SOURCE + " compiled for " + arch + ")");
        return "NVRTC for " + arch + " (" + why + "; cache " + cache + ")";
    }

    /**
     * Compiles the module's one translation unit to a CUBIN for {@code arch}, the family files it includes passed
     * as NVRTC headers under their file names; a failed compile's message carries NVRTC's log.
     */
    static byte[] compile(String name, String source, Map<String, String> headers, String arch) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment progOut = arena.allocate(ValueLayout.ADDRESS);
            MemorySegment texts = arena.allocate(ValueLayout.ADDRESS, Math.max(1, headers.size()));
            MemorySegment names = arena.allocate(ValueLayout.ADDRESS, Math.max(1, headers.size()));
            int i = 0;
            for (Map.Entry<String, String> h : headers.entrySet()) {
                texts.setAtIndex(ValueLayout.ADDRESS, i, arena.allocateFrom(h.getValue()));
                names.setAtIndex(ValueLayout.ADDRESS, i++, arena.allocateFrom(h.getKey()));
            }
            checkNvrtc(Nvrtc.nvrtcCreateProgram(progOut, arena.allocateFrom(source), arena.allocateFrom(name),
                    headers.size(), texts, names), "nvrtcCreateProgram(" + name + ")");
            MemorySegment prog = progOut.get(ValueLayout.ADDRESS, 0);
            try {
                String[] options = {"--gpu-architecture=" + arch, "--std=c++17", "-lineinfo"};
                MemorySegment opts = arena.allocate(ValueLayout.ADDRESS, options.length);
                for (int o = 0; o < options.length; o++) opts.setAtIndex(ValueLayout.ADDRESS, o, arena.allocateFrom(options[o]));
                int status = Nvrtc.nvrtcCompileProgram(prog, options.length, opts);
                if (status != 0) {
                    throw new IllegalStateException("NVRTC could not compile " + name + " for " + arch + ": "
                            + CudaException.describe(CudaException.Api.NVRTC, status) + "\n" + log(arena, prog));
                }
                MemorySegment size = arena.allocate(ValueLayout.JAVA_LONG);
                checkNvrtc(Nvrtc.nvrtcGetCUBINSize(prog, size), "nvrtcGetCUBINSize(" + name + ")");
                MemorySegment cubin = arena.allocate(size.get(ValueLayout.JAVA_LONG, 0));
                checkNvrtc(Nvrtc.nvrtcGetCUBIN(prog, cubin), "nvrtcGetCUBIN(" + name + ")");
                return cubin.toArray(ValueLayout.JAVA_BYTE);
            } finally {
                Nvrtc.nvrtcDestroyProgram(progOut);
            }
        }
    }

    private static String log(Arena arena, MemorySegment prog) {
        MemorySegment size = arena.allocate(ValueLayout.JAVA_LONG);
        if (Nvrtc.nvrtcGetProgramLogSize(prog, size) != 0) return "(no log)";
        MemorySegment text = arena.allocate(Math.max(1, size.get(ValueLayout.JAVA_LONG, 0)));
        if (Nvrtc.nvrtcGetProgramLog(prog, text) != 0) return "(no log)";
        return text.getString(0);
    }

    private static Path cacheFolder(Map<String, String> sources, String arch) {
        String base = System.getProperty("polaformer.cuda.cache",
                Path.of(System.getProperty("user.home"), ".cache", "polaformer", "cuda").toString());
        try (Arena arena = Arena.ofConfined()) {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            MemorySegment major = arena.allocate(ValueLayout.JAVA_INT), minor = arena.allocate(ValueLayout.JAVA_INT);
            Nvrtc.nvrtcVersion(major, minor);
            sha.update((arch + " nvrtc " + major.get(ValueLayout.JAVA_INT, 0) + "." + minor.get(ValueLayout.JAVA_INT, 0))
                    .getBytes(StandardCharsets.UTF_8));
            for (Map.Entry<String, String> e : sources.entrySet()) {
                sha.update(e.getKey().getBytes(StandardCharsets.UTF_8));
                sha.update(e.getValue().getBytes(StandardCharsets.UTF_8));
            }
            return Path.of(base, HexFormat.of().formatHex(sha.digest()).substring(0, 16));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The .cu and .cuh resources under {@value #SOURCES}, by file name, from a jar or a class-path folder. */
    static Map<String, String> kernelSources() {
        Map<String, String> out = new TreeMap<>();
        URL url = KernelModule.class.getClassLoader().getResource(SOURCES);
        if (url == null) return out;
        try {
            if (url.getProtocol().equals("jar")) {
                JarURLConnection c = (JarURLConnection) url.openConnection();
                c.setUseCaches(false);
                try (JarFile jar = c.getJarFile()) {
                    for (var entries = jar.entries(); entries.hasMoreElements(); ) {
                        var entry = entries.nextElement();
                        String n = entry.getName();
                        if (n.startsWith(SOURCES) && isSource(n) && n.indexOf('/', SOURCES.length()) < 0) {
                            try (InputStream in = jar.getInputStream(entry)) {
                                out.put(n.substring(SOURCES.length()), new String(in.readAllBytes(), StandardCharsets.UTF_8));
                            }
                        }
                    }
                }
            } else {
                try (Stream<Path> files = Files.list(Path.of(url.toURI()))) {
                    for (Path p : files.filter(f -> isSource(f.toString())).toList()) {
                        out.put(p.getFileName().toString(), Files.readString(p));
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("reading the kernel sources at " + url, e);
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
        return out;
    }

    private static boolean isSource(String name) {
        return name.endsWith(".cu") || name.endsWith(".cuh");
    }

    private static byte[] resource(String name) {
        try (InputStream in = KernelModule.class.getClassLoader().getResourceAsStream(name)) {
            return in == null ? null : in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException("reading " + name, e);
        }
    }
}
