package dev.polaformer.numerics;

import java.lang.System.Logger.Level;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.UnaryOperator;

/**
 * Finds backends and chooses one.
 *
 * <p>The choice comes from the system property {@code polaformer.backend}, else the environment variable
 * {@code POLAFORMER_BACKEND}, else {@code auto}; it is read on every {@link #get()} call, so a test or a
 * trainer can switch. {@code auto} takes the available provider with the highest priority and logs one line
 * saying which and why. Naming a backend that is unknown or unavailable throws, listing what is available.
 * Each backend is created once and shared.
 */
public final class Backends {
    public static final String PROPERTY = "polaformer.backend";
    public static final String ENV = "POLAFORMER_BACKEND";
    public static final String AUTO = "auto";

    private static final System.Logger LOG = System.getLogger("dev.polaformer.numerics.Backends");
    private static final Map<String, Backend> CREATED = new ConcurrentHashMap<>();
    private static volatile String lastAutoChoice;

    private Backends() {}

    /** The backend the current setting selects. */
    public static Backend get() {
        return get(requested(System::getProperty, System::getenv));
    }

    /** The backend named {@code id} ({@code auto} allowed). */
    public static Backend get(String id) {
        return select(id, providers());
    }

    /** The requested backend name: the property, else the environment variable, else {@code auto}. */
    static String requested(UnaryOperator<String> properties, UnaryOperator<String> environment) {
        String v = properties.apply(PROPERTY);
        if (v == null || v.isBlank()) v = environment.apply(ENV);
        if (v == null || v.isBlank()) v = AUTO;
        return v.trim().toLowerCase(Locale.ROOT);
    }

    /** All registered providers, highest priority first. */
    public static List<BackendProvider> providers() {
        List<BackendProvider> list = new ArrayList<>();
        ServiceLoader.load(BackendProvider.class, Backends.class.getClassLoader()).forEach(list::add);
        list.sort(Comparator.comparingInt(BackendProvider::priority).reversed());
        return list;
    }

    /** Availability of a provider, honouring {@code -Dpolaformer.<id>.disabled=true}. */
    public static BackendProvider.Availability availability(BackendProvider p) {
        if (Boolean.getBoolean("polaformer." + p.id() + ".disabled")) {
            return BackendProvider.Availability.no("disabled by -Dpolaformer." + p.id() + ".disabled=true");
        }
        try {
            return p.availability();
        } catch (RuntimeException | LinkageError e) {
            return BackendProvider.Availability.no("availability check failed: " + e);
        }
    }

    static Backend select(String id, List<BackendProvider> providers) {
        String want = id.trim().toLowerCase(Locale.ROOT);
        if (want.equals(AUTO)) {
            List<String> skipped = new ArrayList<>();
            for (BackendProvider p : providers) {
                BackendProvider.Availability a = availability(p);
                if (a.available()) {
                    Backend b = create(p);
                    String line = "PolaFormer backend (auto): " + p.id() + ", " + b.describe()
                            + (skipped.isEmpty() ? "" : "; not available: " + String.join("; ", skipped));
                    if (!line.equals(lastAutoChoice)) {
                        lastAutoChoice = line;
                        // A missing GPU is normal; landing on the slow double-precision oracle is worth a warning,
                        // unless the launcher chose C1 on purpose (-Dpolaformer.jit=c1: one-image classify).
                        boolean expected = "c1".equals(System.getProperty("polaformer.jit"));
                        LOG.log(p.id().equals("reference") && !expected ? Level.WARNING : Level.INFO, line);
                    }
                    return b;
                }
                skipped.add(p.id() + " (" + a.reason() + ")");
            }
            throw new IllegalStateException("no PolaFormer backend is available: " + String.join("; ", skipped));
        }
        for (BackendProvider p : providers) {
            if (!p.id().equals(want)) continue;
            BackendProvider.Availability a = availability(p);
            if (!a.available()) {
                throw new IllegalStateException("backend '" + want + "' is not available: " + a.reason()
                        + ". Available: " + describeAvailable(providers));
            }
            return create(p);
        }
        throw new IllegalArgumentException("unknown backend '" + id + "' (from -D" + PROPERTY + " or " + ENV
                + "). Known: auto, " + String.join(", ", providers.stream().map(BackendProvider::id).toList())
                + ". Available: " + describeAvailable(providers));
    }

    private static Backend create(BackendProvider p) {
        return CREATED.computeIfAbsent(p.id(), k -> p.create());
    }

    private static String describeAvailable(List<BackendProvider> providers) {
        List<String> ok = new ArrayList<>();
        for (BackendProvider p : providers) if (availability(p).available()) ok.add(p.id());
        return ok.isEmpty() ? "none" : String.join(", ", ok);
    }
}
