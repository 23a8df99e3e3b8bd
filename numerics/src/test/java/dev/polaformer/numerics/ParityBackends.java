package dev.polaformer.numerics;

import dev.polaformer.numerics.cpu.CpuBackend;
import org.junit.jupiter.api.Assumptions;

import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Which backend the parity suites test, so the same tests check {@code cpu} here and {@code cuda} where a GPU is.
 *
 * <p>{@code -Dpolaformer.parity.backend=<id>} (else {@code -Dpolaformer.backend}, else {@code cpu}) names it.
 * {@code cpu} is built directly with the thread count each test wants (odd counts exercise uneven splits); any
 * other id comes from its provider. When that backend cannot run here the tests are <em>skipped</em> through a
 * JUnit assumption carrying the provider's reason, and one line saying so is printed, so a CPU-only run shows
 * plainly that cuda was not tested and why rather than passing silently.
 */
public final class ParityBackends {
    public static final String PROPERTY = "polaformer.parity.backend";

    private static final Set<String> ANNOUNCED = ConcurrentHashMap.newKeySet();

    private ParityBackends() {}

    /** The id under test. */
    public static String id() {
        String v = System.getProperty(PROPERTY);
        if (v == null || v.isBlank()) v = System.getProperty(Backends.PROPERTY);
        if (v == null || v.isBlank() || v.equalsIgnoreCase(Backends.AUTO)) v = CpuBackend.ID;
        return v.trim().toLowerCase(java.util.Locale.ROOT);
    }

    /** Ids from a comma-separated property (e.g. the golden tests' list), or {@code defaults}. */
    public static List<String> ids(String property, String defaults) {
        return Arrays.stream(System.getProperty(property, defaults).split(",")).map(String::trim)
                .filter(s -> !s.isEmpty()).toList();
    }

    /**
     * The backend under test: a {@code cpu} backend with {@code cpuThreads} threads, or the named provider's
     * backend; {@code null} when it is not available here (then {@link #assumeAvailable} skips).
     */
    public static Backend underTest(int cpuThreads) {
        String id = id();
        if (id.equals(CpuBackend.ID)) return new CpuBackend(cpuThreads);
        return unavailableReason(id) == null ? Backends.get(id) : null;
    }

    /** Why backend {@code id} cannot run here, or null when it can. */
    public static String unavailableReason(String id) {
        for (BackendProvider p : Backends.providers()) {
            if (!p.id().equals(id)) continue;
            BackendProvider.Availability a = Backends.availability(p);
            return a.available() ? null : a.reason();
        }
        return "no provider for backend '" + id + "' on this class path (known: "
                + Backends.providers().stream().map(BackendProvider::id).toList() + ")";
    }

    /** Skips the calling test (class, when called from {@code @BeforeAll}) unless the backend under test can run. */
    public static void assumeAvailable() {
        assumeAvailable(id());
    }

    public static void assumeAvailable(String id) {
        String reason = unavailableReason(id);
        if (reason != null && ANNOUNCED.add(id)) {
            System.out.println("[parity] backend '" + id + "' SKIPPED: " + reason);
        }
        Assumptions.assumeTrue(reason == null, () -> "backend '" + id + "' not available: " + reason);
    }
}
