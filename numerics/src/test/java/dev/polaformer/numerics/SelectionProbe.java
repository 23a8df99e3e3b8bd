package dev.polaformer.numerics;

/** Run in a child JVM by {@link BackendSelectionTest}: prints the selected backend's id, or the error. */
public final class SelectionProbe {
    public static void main(String[] args) {
        try {
            System.out.println("selected=" + Backends.get().id());
        } catch (RuntimeException e) {
            System.out.println("error=" + e.getClass().getSimpleName() + ": " + e.getMessage());
        }
    }
}
