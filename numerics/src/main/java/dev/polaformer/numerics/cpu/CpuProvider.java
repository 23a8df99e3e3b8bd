package dev.polaformer.numerics.cpu;

import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.BackendProvider;

import java.util.List;

/**
 * Registers {@link CpuBackend}. Available when the JVM has the incubating Vector API module and a JIT
 * that compiles it to SIMD instructions; otherwise it says what is missing. This class itself touches no
 * Vector API type, so it loads on any JVM.
 */
public final class CpuProvider implements BackendProvider {
    @Override
    public String id() {
        return CpuBackend.ID;
    }

    @Override
    public int priority() {
        return 100;
    }

    @Override
    public Availability availability() {
        if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
            return Availability.no("the Vector API module is missing: start java with --add-modules jdk.incubator.vector");
        }
        String vmInfo = System.getProperty("java.vm.info", "");
        if (vmInfo.contains("interpreted mode")) {
            return Availability.no("the JVM runs interpreted (-Xint), where the Vector API is not compiled to SIMD");
        }
        List<String> args = ProcessHandle.current().info().arguments().map(List::of).orElse(List.of());
        for (String a : args) {
            if (a.matches("-XX:TieredStopAtLevel=[0-3]") || a.equals("-XX:-UseCompiler")) {
                return Availability.no("the JVM runs without the C2 compiler (" + a + "), which the Vector API needs for SIMD");
            }
        }
        try {
            int lanes = SimdProbe.lanes();
            if (lanes < 4) return Availability.no("no SIMD registers of at least 128 bits were found");
            return Availability.yes(SimdProbe.describe());
        } catch (IllegalArgumentException e) {
            return Availability.no(e.getMessage());
        } catch (ExceptionInInitializerError e) {
            return Availability.no(String.valueOf(e.getCause() == null ? e : e.getCause().getMessage()));
        }
    }

    @Override
    public Backend create() {
        return new CpuBackend(Parallel.configuredThreads());
    }

    /** Kept apart so that {@link CpuProvider} loads without the Vector API classes. */
    private static final class SimdProbe {
        static int lanes() {
            return Simd.L;
        }

        static String describe() {
            return Simd.describe();
        }
    }
}
