package dev.polaformer.cli;

import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.Backends;
import picocli.CommandLine.Option;

/** Options every command takes: where to compute and how loudly. */
final class Common {
    @Option(names = "--backend", paramLabel = "auto|cpu|cuda|reference",
            description = "Compute backend (default: -Dpolaformer.backend, else $POLAFORMER_BACKEND, else auto).")
    String backend;

    @Option(names = "--threads", paramLabel = "N", description = "CPU threads (default: all processors).")
    Integer threads;

    @Option(names = "--verbose", description = "Print stack traces of errors.")
    boolean verbose;

    /** Applies the settings and returns the backend they select. */
    Backend backend() {
        if (threads != null) {
            if (threads < 1) throw new IllegalArgumentException("--threads must be at least 1, got " + threads);
            System.setProperty("polaformer.threads", String.valueOf(threads));
        }
        if (backend != null) System.setProperty(Backends.PROPERTY, backend);
        return Backends.get();
    }
}
