package dev.polaformer.cuda;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The NVRTC path of {@link KernelModule}, run for real wherever {@code libnvrtc.so.13} is found by the same search
 * the backend uses ({@code -Dpolaformer.cuda.libpath}, the system loader's folders, the CUDA and pip places): the
 * kernel sources from the native jar are compiled at run time, exactly as a device without a fitting prebuilt
 * image would get them, for sm_80 and sm_90, and every kernel must be in each cubin. No GPU is needed; where NVRTC
 * is absent the test is skipped with the search it made.
 */
class NvrtcCompileTest {

    @Test
    @SuppressWarnings("restricted") // System.load of NVRTC alone: this test needs no driver
    void kernelModuleCompilesTheKernelSourcesWithNvrtc() throws IOException {
        CudaLibraries.Found found = CudaLibraries.find();
        Path nvrtc = found.paths().get(CudaLibraries.Library.NVRTC);
        assumeTrue(nvrtc != null, () -> "NVRTC compile of the kernels skipped: libnvrtc.so.13 not found ("
                + found.describe() + ")");
        // NVRTC opens its builtins library by soname later; loading the copy beside it first satisfies that.
        try (Stream<Path> files = Files.list(nvrtc.getParent())) {
            files.filter(f -> f.getFileName().toString().matches("libnvrtc-builtins\\.so\\.13(\\.\\d+)*"))
                    .findFirst().ifPresent(f -> System.load(f.toAbsolutePath().toString()));
        }
        System.load(nvrtc.toAbsolutePath().toString());

        Map<String, String> sources = KernelModule.kernelSources();
        String main = sources.get(KernelModule.MAIN_SOURCE);
        assertNotNull(main, "the native jar's kernel sources are on the class path");
        Map<String, String> headers = new TreeMap<>(sources);
        headers.remove(KernelModule.MAIN_SOURCE);
        for (String arch : new String[] {"sm_80", "sm_90"}) {
            byte[] cubin = KernelModule.compile(KernelModule.MAIN_SOURCE, main, headers, arch);
            assertFalse(cubin.length == 0, "empty cubin for " + arch);
            String symbols = new String(cubin, StandardCharsets.ISO_8859_1);
            for (String kernel : CudaKernelsSignatureTest.kernelNames()) {
                assertTrue(symbols.contains(kernel + "\0"), kernel + " missing from the " + arch + " cubin");
            }
        }
    }
}
