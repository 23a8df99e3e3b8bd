package dev.polaformer.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Compiles the kernel module with NVRTC at test time, as the backend does where no prebuilt image fits the
 * device: {@code polaformer_kernels.cu} with the family files and {@code pf_common.cuh} passed as headers, to
 * PTX for compute_80 and to a cubin for sm_90, and checks that every kernel is in the PTX. Skipped, with the
 * places looked in, where {@code libnvrtc.so.13} is not found.
 *
 * <p>NVRTC is reached through FFM directly rather than the generated bindings, so this test stands on its own;
 * the library search is a small local one (the {@code -Dpolaformer.cuda.libpath} list, then the usual CUDA
 * places). NVRTC opens {@code libnvrtc-builtins.so.13.*} by soname, which the dynamic loader finds only on its
 * path; loading the copy next to {@code libnvrtc} first by absolute path satisfies that lookup (the bindings'
 * library loader has to do the same).
 */
class NvrtcCompileTest {
    private static final String LIB = "libnvrtc.so.13";
    private static final List<String> FAMILIES = CudaKernels.HEADER_SOURCES;

    private static List<Path> searchPlaces() {
        List<Path> places = new ArrayList<>();
        String libpath = System.getProperty("polaformer.cuda.libpath", "");
        for (String p : libpath.split(java.io.File.pathSeparator)) if (!p.isBlank()) places.add(Path.of(p));
        for (String p : System.getenv().getOrDefault("LD_LIBRARY_PATH", "").split(":")) {
            if (!p.isBlank()) places.add(Path.of(p));
        }
        try (Stream<Path> cuda = Files.list(Path.of("/usr/local"))) {
            cuda.filter(p -> p.getFileName().toString().startsWith("cuda")).sorted().forEach(p -> {
                places.add(p.resolve("targets/x86_64-linux/lib"));
                places.add(p.resolve("lib64"));
            });
        } catch (IOException e) {
            // no /usr/local: nothing to add
        }
        places.add(Path.of("/usr/lib/x86_64-linux-gnu"));
        return places;
    }

    private static Optional<Path> findNvrtc(List<Path> places) {
        return places.stream().map(p -> p.resolve(LIB)).filter(Files::isRegularFile).findFirst();
    }

    @Test
    @SuppressWarnings("restricted")
    void kernelModuleCompilesWithNvrtc() throws Throwable {
        List<Path> places = searchPlaces();
        Optional<Path> lib = findNvrtc(places);
        assumeTrue(lib.isPresent(), () -> LIB + " not found in " + places
                + " (set -Dpolaformer.cuda.libpath): the NVRTC compile of the kernels is skipped");
        try (Stream<Path> files = Files.list(lib.get().getParent())) {
            files.filter(f -> f.getFileName().toString().matches("libnvrtc-builtins\\.so\\.13(\\.\\d+)*"))
                    .findFirst().ifPresent(f -> System.load(f.toAbsolutePath().toString()));
        }
        Path dir = Path.of("../native/src/main/cuda");
        try (Arena arena = Arena.ofConfined()) {
            SymbolLookup nvrtc = SymbolLookup.libraryLookup(lib.get(), arena);
            Linker linker = Linker.nativeLinker();
            MethodHandle create = linker.downcallHandle(nvrtc.find("nvrtcCreateProgram").orElseThrow(),
                    FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS));
            MethodHandle compile = linker.downcallHandle(nvrtc.find("nvrtcCompileProgram").orElseThrow(),
                    FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS));
            MethodHandle logSize = linker.downcallHandle(nvrtc.find("nvrtcGetProgramLogSize").orElseThrow(),
                    FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
            MethodHandle log = linker.downcallHandle(nvrtc.find("nvrtcGetProgramLog").orElseThrow(),
                    FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
            MethodHandle ptxSize = linker.downcallHandle(nvrtc.find("nvrtcGetPTXSize").orElseThrow(),
                    FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
            MethodHandle ptx = linker.downcallHandle(nvrtc.find("nvrtcGetPTX").orElseThrow(),
                    FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
            MethodHandle cubinSize = linker.downcallHandle(nvrtc.find("nvrtcGetCUBINSize").orElseThrow(),
                    FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
            MethodHandle destroy = linker.downcallHandle(nvrtc.find("nvrtcDestroyProgram").orElseThrow(),
                    FunctionDescriptor.of(JAVA_INT, ADDRESS));

            MemorySegment headers = arena.allocate(ADDRESS, FAMILIES.size());
            MemorySegment names = arena.allocate(ADDRESS, FAMILIES.size());
            for (int i = 0; i < FAMILIES.size(); i++) {
                headers.setAtIndex(ADDRESS, i, arena.allocateFrom(Files.readString(dir.resolve(FAMILIES.get(i)))));
                names.setAtIndex(ADDRESS, i, arena.allocateFrom(FAMILIES.get(i)));
            }
            MemorySegment main = arena.allocateFrom(Files.readString(dir.resolve(CudaKernels.MAIN_SOURCE)));

            for (String arch : List.of("compute_80", "sm_90")) {
                MemorySegment prog = arena.allocate(ADDRESS);
                int status = (int) create.invokeExact(prog, main, arena.allocateFrom(CudaKernels.MAIN_SOURCE),
                        FAMILIES.size(), headers, names);
                assertEquals(0, status, "nvrtcCreateProgram");
                MemorySegment handle = prog.get(ADDRESS, 0);
                MemorySegment options = arena.allocate(ADDRESS, 2);
                options.setAtIndex(ADDRESS, 0, arena.allocateFrom("--std=c++17"));
                options.setAtIndex(ADDRESS, 1, arena.allocateFrom("--gpu-architecture=" + arch));
                status = (int) compile.invokeExact(handle, 2, options);
                MemorySegment size = arena.allocate(JAVA_LONG);
                int ignored = (int) logSize.invokeExact(handle, size);
                MemorySegment text = arena.allocate(Math.max(1, size.get(JAVA_LONG, 0)));
                ignored = (int) log.invokeExact(handle, text);
                String message = text.getString(0, StandardCharsets.UTF_8);
                assertEquals(0, status, "nvrtcCompileProgram(" + arch + "): " + message);
                assertTrue(message.isBlank(), arch + ": NVRTC warnings: " + message);
                if (arch.startsWith("compute_")) {
                    ignored = (int) ptxSize.invokeExact(handle, size);
                    MemorySegment code = arena.allocate(size.get(JAVA_LONG, 0));
                    ignored = (int) ptx.invokeExact(handle, code);
                    String ptxText = code.getString(0, StandardCharsets.UTF_8);
                    for (String kernel : CudaKernelsSignatureTest.kernelNames()) {
                        assertTrue(ptxText.contains(".entry " + kernel + "("), kernel + " missing from the PTX");
                    }
                } else {
                    ignored = (int) cubinSize.invokeExact(handle, size);
                    assertTrue(size.get(JAVA_LONG, 0) > 0, "empty cubin for " + arch);
                }
                ignored = (int) destroy.invokeExact(prog);
            }
        }
    }
}
