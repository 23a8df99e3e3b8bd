package dev.polaformer.cuda;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Loading, the driver probe and the error names, run for real against stand-in libraries built here with a C
 * compiler: a few exported functions with the CUDA names, returning fixed answers. This checks the glue that
 * a machine without a GPU can check (System.load order, companions, the probe's downcalls, the generated
 * downcalls for error names); what the real libraries do is for the GPU run. Skipped without gcc.
 */
class FakeCudaLibrariesTest {
    @TempDir
    static Path dir;

    private static final Map<String, String> SOURCES = Map.of(
            "libcuda.so.1", """
                    #include <stdlib.h>
                    static int env(const char *name, int fallback) { const char *v = getenv(name); return v ? atoi(v) : fallback; }
                    int cuInit(unsigned int flags) { return env("FAKE_CUDA_INIT_STATUS", 0); }
                    int cuDriverGetVersion(int *v) { *v = env("FAKE_CUDA_DRIVER_VERSION", 13000); return 0; }
                    int cuDeviceGetCount(int *n) { *n = env("FAKE_CUDA_DEVICES", 1); return 0; }
                    int cuDeviceGet(int *d, int ordinal) { *d = ordinal; return 0; }
                    int cuDeviceGetName(char *name, int len, int dev) {
                        const char *s = "Fake GPU"; int i = 0;
                        for (; s[i] && i < len - 1; i++) name[i] = s[i];
                        name[i] = 0; return 0;
                    }
                    int cuGetErrorName(int e, const char **p) {
                        *p = e == 2 ? "CUDA_ERROR_OUT_OF_MEMORY" : e == 100 ? "CUDA_ERROR_NO_DEVICE" : "CUDA_ERROR_UNKNOWN";
                        return 0;
                    }
                    int cuGetErrorString(int e, const char **p) { *p = "fake driver error"; return 0; }
                    """,
            "libcudart.so.13", """
                    const char *cudaGetErrorName(int e) { return e == 2 ? "cudaErrorMemoryAllocation" : "cudaErrorUnknown"; }
                    const char *cudaGetErrorString(int e) { return e == 2 ? "out of memory" : "unknown error"; }
                    """,
            "libcublasLt.so.13", "int fake_cublaslt_marker(void) { return 1; }\n",
            "libcublas.so.13", """
                    const char *cublasGetStatusName(int s) { return "CUBLAS_STATUS_ALLOC_FAILED"; }
                    const char *cublasGetStatusString(int s) { return "resource allocation failed"; }
                    """,
            "libnvrtc.so.13", "const char *nvrtcGetErrorString(int r) { return \"NVRTC_ERROR_COMPILATION\"; }\n",
            "libnvrtc-builtins.so.13.0", "int fake_nvrtc_builtins_marker(void) { return 1; }\n",
            "libcudnn.so.9", """
                    #include <string.h>
                    const char *cudnnGetErrorString(int s) { return "CUDNN_STATUS_BAD_PARAM"; }
                    void cudnnGetLastErrorString(char *m, unsigned long n) { strncpy(m, "fake: bad dims", n); }
                    """,
            "libcudnn_ops.so.9", "int fake_cudnn_ops_marker(void) { return 1; }\n",
            // Sorts before its dependency libcudnn_ops.so.9 and finds it only once that is loaded: the retry pass.
            "libcudnn_cnn.so.9", "int fake_cudnn_ops_marker(void);\nint fake_cudnn_cnn_marker(void) { return fake_cudnn_ops_marker(); }\n");

    @BeforeAll
    static void buildStandIns() throws Exception {
        assumeTrue(gccWorks(), "no gcc here to build the stand-in libraries");
        for (String lib : List.of("libcuda.so.1", "libcudart.so.13", "libcublasLt.so.13", "libcublas.so.13",
                "libnvrtc.so.13", "libnvrtc-builtins.so.13.0", "libcudnn.so.9", "libcudnn_ops.so.9", "libcudnn_cnn.so.9")) {
            Path c = dir.resolve(lib + ".c");
            Files.writeString(c, SOURCES.get(lib));
            List<String> cmd = new ArrayList<>(List.of("gcc", "-shared", "-fPIC", "-Wl,-z,noexecstack",
                    "-Wl,-soname," + lib, "-o", dir.resolve(lib).toString(), c.toString()));
            if (lib.equals("libcudnn_cnn.so.9")) cmd.addAll(List.of("-L" + dir, "-l:libcudnn_ops.so.9"));
            run(cmd, Map.of());
        }
    }

    @Test
    void loadsAllWithCompanionsAndNamesErrorsThroughTheLibraries() throws Exception {
        String out = probe(Map.of());
        assertTrue(out.contains("available=true reason=1 CUDA device(s), first: Fake GPU; driver for CUDA 13.0; runtime "
                + dir.resolve("libcudart.so.13")), out);
        assertTrue(out.contains("loaded=true"), out);
        assertTrue(out.contains("fake_nvrtc_builtins_marker=true") && out.contains("fake_cudnn_ops_marker=true")
                && out.contains("fake_cudnn_cnn_marker=true"), "companions loaded, in dependency order: " + out);
        for (String m : List.of(
                "message=cudaMalloc(268435456 bytes): cudaErrorMemoryAllocation (out of memory)",
                "message=cuModuleLoadData: CUDA_ERROR_OUT_OF_MEMORY (fake driver error)",
                "message=cublasSgemm_v2: CUBLAS_STATUS_ALLOC_FAILED (resource allocation failed)",
                "message=cudnnConvolutionForward: CUDNN_STATUS_BAD_PARAM (fake: bad dims)",
                "message=nvrtcCompileProgram: NVRTC_ERROR_COMPILATION")) {
            assertTrue(out.contains(m), m + " in\n" + out);
        }
    }

    @Test
    void aDriverTooOldForCuda13IsReported() throws Exception {
        String out = probe(Map.of("FAKE_CUDA_DRIVER_VERSION", "12080"));
        assertTrue(out.contains("available=false reason=the NVIDIA driver (" + dir.resolve("libcuda.so.1")
                + ") supports CUDA up to 12.8, but the CUDA 13 libraries need a driver for CUDA 13.0 or newer"), out);
    }

    @Test
    void noDeviceIsReported() throws Exception {
        assertTrue(probe(Map.of("FAKE_CUDA_DEVICES", "0")).contains("available=false reason=the NVIDIA driver ("
                + dir.resolve("libcuda.so.1") + ") reports no CUDA device"));
        String failed = probe(Map.of("FAKE_CUDA_INIT_STATUS", "100"));
        assertTrue(failed.contains("failed to initialise: cuInit returned CUDA_ERROR_NO_DEVICE (100)"), failed);
    }

    private static String probe(Map<String, String> env) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String cp = String.join(File.pathSeparator, location(CudaProvider.class),
                location(dev.polaformer.numerics.Backends.class), location(FakeCudaProbe.class));
        boolean full = env.isEmpty();
        List<String> cmd = new ArrayList<>(List.of(java, "-cp", cp, "--enable-native-access=ALL-UNNAMED",
                "-D" + CudaLibraries.LIBPATH_PROPERTY + "=" + dir, FakeCudaProbe.class.getName()));
        if (!full) cmd.add("availability-only");
        return run(cmd, env);
    }

    private static String run(List<String> cmd, Map<String, String> env) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().putAll(env);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), String.join(" ", cmd) + "\n" + out);
        return out;
    }

    private static boolean gccWorks() {
        try {
            Process p = new ProcessBuilder("gcc", "--version").redirectErrorStream(true).start();
            p.getInputStream().readAllBytes();
            return p.waitFor() == 0;
        } catch (IOException | InterruptedException e) {
            return false;
        }
    }

    private static String location(Class<?> c) throws Exception {
        return Path.of(c.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
    }
}
