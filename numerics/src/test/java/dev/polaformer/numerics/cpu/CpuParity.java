package dev.polaformer.numerics.cpu;

import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.Closeness;
import dev.polaformer.numerics.ParityBackends;
import dev.polaformer.numerics.Shapes;
import dev.polaformer.numerics.Tensor;
import dev.polaformer.numerics.TestData;
import dev.polaformer.numerics.reference.ReferenceBackend;

import java.util.Arrays;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The harness of the parity tests: the same inputs on the reference backend (double, the oracle) and on the
 * backend under test ({@link ParityBackends}: {@code cpu} by default, {@code cuda} where it runs), and comparisons
 * in the {@link Closeness} form. The name {@code CPU} stays for the side under test. A CPU backend runs three
 * threads, more than this machine's cores and an odd number, so the parallel splits and their uneven last parts
 * are exercised. Every test class calls {@link #assumeAvailable()} first, so an unavailable backend is reported
 * as skipped with its reason.
 */
final class CpuParity {
    private CpuParity() {}

    static final Backend REF = new ReferenceBackend();
    /** The backend under test; null when it cannot run here (the tests are then skipped). */
    static final Backend CPU = ParityBackends.underTest(3);

    /** Skips the test class, with the provider's reason, when the backend under test cannot run here. */
    static void assumeAvailable() {
        ParityBackends.assumeAvailable();
    }

    /** The same values on both backends: {@code [reference, cpu]}. */
    static Tensor[] pair(float[] values, int... shape) {
        return new Tensor[] {REF.fromArray(values, shape), CPU.fromArray(values, shape)};
    }

    static Tensor[] normal(long seed, int... shape) {
        return pair(TestData.normal(seed, (int) Shapes.checkedSize(shape)), shape);
    }

    static Tensor[] normalWith(long seed, double mean, double std, int... shape) {
        return pair(TestData.normal(seed, (int) Shapes.checkedSize(shape), mean, std), shape);
    }

    static Tensor[] uniform(long seed, double lo, double hi, int... shape) {
        return pair(TestData.uniform(seed, (int) Shapes.checkedSize(shape), lo, hi), shape);
    }

    /** Zero-filled outputs on both backends. */
    static Tensor[] zeros(int... shape) {
        return new Tensor[] {REF.zeros(shape), CPU.zeros(shape)};
    }

    /** Outputs on both backends filled with NaN, so an element the op forgets to write fails the comparison. */
    static Tensor[] garbage(int... shape) {
        Tensor[] t = {REF.empty(shape), CPU.empty(shape)};
        REF.fill(t[0], Float.NaN);
        CPU.fill(t[1], Float.NaN);
        return t;
    }

    static void assertClose(String what, Tensor[] t, double absOfMax, double rel) {
        Closeness.assertClose(what, t[0].toArray(), t[1].toArray(), absOfMax, rel);
    }

    /**
     * Like {@link #assertClose} with an absolute allowance instead of one relative to max|ref|: for results that
     * are differences of much larger terms (a BatchNorm input gradient over two samples is ~0), where the
     * rounding scales with the terms, not with the result.
     */
    static void assertCloseAbs(String what, Tensor[] t, double abs, double rel) {
        float[] ref = t[0].toArray();
        double max = 0;
        for (float v : ref) max = Math.max(max, Math.abs(v));
        Closeness.assertClose(what, ref, t[1].toArray(), max == 0 ? 0 : abs / max, rel);
    }

    /** Largest absolute value. */
    static double maxAbs(Tensor t) {
        double m = 0;
        for (float v : t.toArray()) m = Math.max(m, Math.abs(v));
        return m;
    }

    /** Largest {@code |cpu − ref| / max|ref|}, for reports. */
    static double error(Tensor[] t) {
        return Closeness.maxRelativeToMax(t[0].toArray(), t[1].toArray());
    }

    static void close(Tensor[]... all) {
        for (Tensor[] t : all) {
            if (t == null) continue;
            for (Tensor x : t) if (x != null) x.close();
        }
    }

    static String shape(int... s) {
        return Arrays.toString(s);
    }

    /** Asserts that {@code call} fails with an IllegalArgumentException whose message names {@code op}. */
    static void assertRejects(String op, Runnable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call::run);
        assertTrue(e.getMessage().startsWith(op + ":"), () -> "message should name " + op + ": " + e.getMessage());
    }

    /** Asserts that {@code call} with a released input fails with an IllegalStateException naming {@code op}. */
    static void assertRejectsReleased(String op, Tensor released, Consumer<Tensor> call) {
        released.close();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> call.accept(released));
        assertTrue(e.getMessage().startsWith(op + ":"), () -> "message should name " + op + ": " + e.getMessage());
    }
}
