package dev.polaformer.numerics.reference;

import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.BackendProvider;

/** Registers {@link ReferenceBackend}: always available, lowest priority. */
public final class ReferenceProvider implements BackendProvider {
    @Override
    public String id() {
        return ReferenceBackend.ID;
    }

    @Override
    public int priority() {
        return 0;
    }

    @Override
    public Availability availability() {
        return Availability.yes("plain Java");
    }

    @Override
    public Backend create() {
        return new ReferenceBackend();
    }
}
