package dev.polaformer.numerics;

/**
 * A backend implementation, registered in {@code META-INF/services/dev.polaformer.numerics.BackendProvider}.
 *
 * <p>{@link #availability()} must be cheap and must not load native libraries of other providers (nor, where
 * it can be helped, its own until it is created). A provider can be switched off with
 * {@code -Dpolaformer.<id>.disabled=true}, which {@link Backends} checks before calling anything else.
 */
public interface BackendProvider {

    String id();

    /** Higher wins under {@code auto}. */
    int priority();

    Availability availability();

    /** Creates the backend; called at most once per JVM by {@link Backends}. */
    Backend create();

    /** Whether a provider can run here, and why (or why not) in words a user can act on. */
    record Availability(boolean available, String reason) {
        public static Availability yes(String reason) {
            return new Availability(true, reason);
        }

        public static Availability no(String reason) {
            return new Availability(false, reason);
        }
    }
}
