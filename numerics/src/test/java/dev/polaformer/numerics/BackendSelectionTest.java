package dev.polaformer.numerics;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BackendSelectionTest {

    @AfterEach
    void clear() {
        System.clearProperty(Backends.PROPERTY);
        System.clearProperty("polaformer.cpu.disabled");
    }

    @Test
    void propertyWinsOverEnvironmentAndIsReadAtEachLookup() {
        Map<String, String> env = Map.of(Backends.ENV, "cpu");
        assertEquals("reference", Backends.requested(k -> k.equals(Backends.PROPERTY) ? "Reference " : null, env::get));
        assertEquals("cpu", Backends.requested(k -> null, env::get));
        assertEquals("auto", Backends.requested(k -> null, k -> null));

        System.setProperty(Backends.PROPERTY, "reference");
        assertEquals("reference", Backends.get().id());
        System.setProperty(Backends.PROPERTY, "cpu");
        assertEquals("cpu", Backends.get().id());
    }

    @Test
    void autoTakesTheHighestPriorityAvailableBackendAndBackendsAreShared() {
        System.setProperty(Backends.PROPERTY, "auto");
        Backend b = Backends.get();
        assertEquals("cpu", b.id());
        assertSame(b, Backends.get("cpu"));
    }

    @Test
    void unknownNameIsRejectedListingTheBackends() {
        var e = assertThrows(IllegalArgumentException.class, () -> Backends.get("tpu"));
        assertTrue(e.getMessage().contains("'tpu'") && e.getMessage().contains("reference")
                && e.getMessage().contains("cpu"), e.getMessage());
    }

    @Test
    void unavailableBackendIsRejectedWithTheReason() {
        System.setProperty("polaformer.cpu.disabled", "true");
        var e = assertThrows(IllegalStateException.class, () -> Backends.get("cpu"));
        assertTrue(e.getMessage().contains("disabled") && e.getMessage().contains("Available: reference"), e.getMessage());
        assertEquals("reference", Backends.get("auto").id(), "auto falls back to what is available");
    }

    @Test
    void unavailableProviderFromTheList() {
        BackendProvider never = new BackendProvider() {
            public String id() { return "never"; }
            public int priority() { return 1000; }
            public Availability availability() { return Availability.no("no such device"); }
            public Backend create() { throw new AssertionError("must not be created"); }
        };
        List<BackendProvider> list = new ArrayList<>(Backends.providers());
        list.add(0, never);
        var e = assertThrows(IllegalStateException.class, () -> Backends.select("never", list));
        assertTrue(e.getMessage().contains("no such device"), e.getMessage());
        assertEquals("cpu", Backends.select("auto", list).id());
    }

    // ---------------------------------------------------------------- in a child JVM

    @Test
    void environmentVariableSelects() throws Exception {
        String out = runChild(List.of("--add-modules=jdk.incubator.vector"), Map.of(Backends.ENV, "reference"));
        assertTrue(out.contains("selected=reference"), out);
    }

    @Test
    void withoutTheVectorModuleAutoFallsBackWithAWarning() throws Exception {
        String out = runChild(List.of(), Map.of());
        assertTrue(out.contains("selected=reference"), out);
        assertTrue(out.contains("--add-modules jdk.incubator.vector"), "the warning says what to add: " + out);
    }

    @Test
    void withoutTheVectorModuleAnExplicitCpuFailsSayingWhatToAdd() throws Exception {
        String out = runChild(List.of("-D" + Backends.PROPERTY + "=cpu"), Map.of());
        assertTrue(out.contains("error=IllegalStateException") && out.contains("--add-modules jdk.incubator.vector"), out);
    }

    private static String runChild(List<String> jvmArgs, Map<String, String> env) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String cp = location(Backends.class) + File.pathSeparator + location(SelectionProbe.class);
        List<String> cmd = new ArrayList<>(List.of(java, "-cp", cp));
        cmd.addAll(jvmArgs);
        cmd.add(SelectionProbe.class.getName());
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().remove(Backends.ENV);
        pb.environment().putAll(env);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
        return out;
    }

    private static String location(Class<?> c) throws Exception {
        return Path.of(c.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
    }
}
