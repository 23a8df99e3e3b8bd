package dev.polaformer.cuda;

import dev.polaformer.numerics.BackendProvider;
import dev.polaformer.numerics.Backends;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/**
 * The proof that a JVM without CUDA never loads a generated binding class (their static initialisers expect
 * the libraries), while the cuda provider is still asked: a child JVM selects a backend and runs a small
 * model-like step with {@code -Xlog:class+load} writing every loaded class to a file, which is then searched.
 * A positive control shows that the log does catch a binding class when one is touched.
 *
 * <p>On a machine where cuda is available, auto rightly loads the bindings, so the CPU-only tests skip.
 */
class NoBindingClassLoadedTest {
    private static final String BINDINGS = " dev.polaformer.cuda.bindings.";

    @TempDir
    Path dir;

    @Test
    void autoOnAMachineWithoutCudaRunsOnCpuWithoutLoadingABindingClass() throws Exception {
        assumeFalse(cudaAvailableHere(), "cuda is available here, so auto selects it");
        Child run = runChild(List.of("-D" + Backends.PROPERTY + "=auto"), List.of());
        assertTrue(run.out.contains("selected=cpu") && run.out.contains("checksum="), run.out);
        assertTrue(run.out.contains("cuda (CUDA libraries not found") || run.out.contains("cuda (the NVIDIA driver"),
                "auto asked the cuda provider and said why it was skipped: " + run.out);
        assertProviderConsulted(run);
        assertEquals(List.of(), run.bindingClasses(), "binding classes loaded on a CPU run");
    }

    @Test
    void explicitCudaWithoutCudaFailsNamingWhatIsMissingAndLoadsNoBindingClass() throws Exception {
        assumeFalse(cudaAvailableHere(), "cuda is available here");
        Child run = runChild(List.of("-D" + Backends.PROPERTY + "=cuda"), List.of());
        assertTrue(run.out.contains("error=IllegalStateException: backend 'cuda' is not available"), run.out);
        assertTrue(run.out.contains("libcuda.so.1") || run.out.contains("NVIDIA driver"), "names what is missing: " + run.out);
        assertTrue(run.out.contains("Available: cpu, reference"), "lists what is available: " + run.out);
        assertProviderConsulted(run);
        assertEquals(List.of(), run.bindingClasses(), "binding classes loaded although cuda was refused");
    }

    @Test
    void theClassLoadLogCatchesABindingClassWhenOneIsTouched() throws Exception {
        Child run = runChild(List.of("-D" + Backends.PROPERTY + "=reference"), List.of("touch-bindings"));
        assertTrue(run.out.contains("cudaSuccess=0"), run.out);
        assertTrue(run.bindingClasses().stream().anyMatch(l -> l.contains("bindings.runtime.CudaRuntime")),
                "the positive control must show up in the log: " + run.bindingClasses());
    }

    private static void assertProviderConsulted(Child run) {
        assertTrue(run.loaded("dev.polaformer.cuda.CudaProvider") && run.loaded("dev.polaformer.cuda.CudaLibraries"),
                "the cuda provider was loaded and its availability asked (CudaLibraries is only reached from there)");
    }

    static boolean cudaAvailableHere() {
        BackendProvider cuda = Backends.providers().stream().filter(p -> p.id().equals(CudaProvider.ID)).findFirst()
                .orElseThrow(() -> new AssertionError("the cuda provider is not registered"));
        return Backends.availability(cuda).available();
    }

    private record Child(String out, List<String> classLog) {
        List<String> bindingClasses() {
            return classLog.stream().filter(l -> l.contains(BINDINGS)).toList();
        }

        boolean loaded(String className) {
            return classLog.stream().anyMatch(l -> l.contains(" " + className + " "));
        }
    }

    private Child runChild(List<String> jvmArgs, List<String> probeArgs) throws Exception {
        Path log = dir.resolve("classes-" + System.nanoTime() + ".log");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String cp = String.join(File.pathSeparator, location(CudaProvider.class), location(Backends.class),
                location(NoCudaProbe.class));
        List<String> cmd = new ArrayList<>(List.of(java, "-cp", cp, "--add-modules=jdk.incubator.vector",
                "--enable-native-access=ALL-UNNAMED", "-Xlog:class+load=info:file=" + log));
        cmd.addAll(jvmArgs);
        cmd.add(NoCudaProbe.class.getName());
        cmd.addAll(probeArgs);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().remove(Backends.ENV);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
        List<String> classes = Files.readAllLines(log);
        assertTrue(classes.stream().anyMatch(l -> l.contains(" java.lang.Object ")), "the class-load log is written");
        return new Child(out, classes);
    }

    private static String location(Class<?> c) throws Exception {
        return Path.of(c.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
    }
}
