package dev.polaformer.numerics.cpu;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.ParityBackends;
import dev.polaformer.numerics.Closeness;
import dev.polaformer.numerics.RopeTables;
import dev.polaformer.numerics.Tensor;
import dev.polaformer.numerics.TestData;
import dev.polaformer.numerics.reference.ReferenceBackend;
import java.util.List;
import java.util.function.Consumer;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The CPU attention cores against the double-precision reference, forward and backward, on random inputs laid
 * out as the model lays them out: q, k, v are column slices of one {@code (B, N, 4C)} projection, and dq, dk, dv
 * slices of its gradient (whose fourth slice must stay untouched).
 *
 * <p><b>Tolerances.</b> The CPU kernels compute in float with double accumulation of the long token sums, so
 * each output is a short float dot product (length 2d ≤ 192 or N ≤ 300 here) of float-rounded terms: its error
 * is a few ulp of the terms' magnitude, not of the result. Results that cancel (RoPE makes the numerator's
 * terms signed, and gradients are differences) are therefore judged against the largest reference value:
 * {@code |cpu − ref| ≤ 1e-5·max|ref| + 1e-4·|ref|}. The measured worst case over the sweeps is 3.5e-6·max|ref|
 * (run with {@code ATTENTION_REPORT=1} to print every error). {@link #longSequence} uses a tighter bound, which a
 * float accumulation over its 4096 tokens breaks.
 */
class AttentionParityTest {
    private static final Backend REF = new ReferenceBackend();
    /** The backend under test ({@link ParityBackends}): for {@code cpu} one- and two-thread instances. */
    private static final Backend[] CPU = ParityBackends.id().equals(CpuBackend.ID)
            ? new Backend[] {new CpuBackend(1), new CpuBackend(2)}
            : new Backend[] {ParityBackends.underTest(1)};

    @BeforeEach // per test, so each is reported as skipped (with the reason) where the backend cannot run
    void backendAvailable() {
        ParityBackends.assumeAvailable();
    }

    /** {@code |cpu − ref| ≤ absOfMax·max(max|ref|, floor) + rel·|ref|}; the floor is explained at {@link #assertClose}. */
    private record Tolerance(double absOfMax, double rel, double floor) {}

    private static final Tolerance SWEEP = new Tolerance(1e-5, 1e-4, 1);

    /** A token grid per sequence length of the sweep (non-square where it can be). */
    private static final int[][] GRIDS = {{1, 1}, {1, 2}, {1, 7}, {7, 7}, {15, 20}};
    private static final int[] HEAD_DIMS = {2, 4, 6, 8, 16, 32};

    // ================================================================ linear attention

    @Test
    void linearMatchesReferenceOverTheSweep() {
        int i = 0;
        for (int d : HEAD_DIMS)
            for (int[] grid : GRIDS) {
                int heads = 1 + i % 3, batch = (i / 3) % 2 == 0 ? 1 : 3;
                linearCase(100 + i, batch, grid[0], grid[1], heads, d, SWEEP);
                i++;
            }
    }

    @Test
    void linearModelShapes() {
        linearCase(7, 2, 8, 8, 1, 32, SWEEP);   // stage 0 of b0 (C = 32), small grid
        linearCase(8, 1, 6, 10, 2, 32, SWEEP);  // stage 1 of b0 (C = 64, 2 heads)
        linearCase(9, 1, 5, 7, 1, 64, SWEEP);   // b2 head size
        linearCase(10, 1, 4, 4, 2, 96, SWEEP);  // b4/b5 head size
    }

    /**
     * 4096 tokens, the tokens of one (batch, head) in one task (1 thread) and in four chunks (2 threads). The first
     * case repeats one key on every token, so that m is a sum of 4096 equal terms: a float running sum of those
     * drifts by 2e-5 to 4e-5 relative (float blocks of 64 summed in double: under 1e-6), and the outputs follow
     * m one for one. (Checked: with the blocks made 4096 tokens long, the first case fails by 7×; the kernel's
     * errors there are under 5e-7·max|ref|.) The second has keys and values with a common offset, so all token
     * sums grow large; its dq errors reach 2e-6·max|ref| (d = 8). Neither has a scale floor.
     */
    @Test
    void longSequence() {
        int n = 64 * 64, c = 32;
        linearCase(11, 1, 64, 64, 1, c, new Tolerance(1.5e-6, 1e-6, 0), qkvg -> {
            for (int t = 1; t < n; t++) System.arraycopy(qkvg, c, qkvg, t * 4 * c + c, c);
        });
        linearCase(12, 1, 64, 64, 1, 8, new Tolerance(4e-6, 1e-5, 0), qkvg -> shift(qkvg, 8, 0.5f, 0.7f, 1f));
    }

    private static void linearCase(long seed, int b, int gh, int gw, int heads, int d, Tolerance tolerance) {
        linearCase(seed, b, gh, gw, heads, d, tolerance, qkvg -> {});
    }

    /** Keys scaled by {@code keyScale} and shifted by {@code keyShift}, values shifted by {@code valueShift}. */
    private static void shift(float[] qkvg, int c, float keyScale, float keyShift, float valueShift) {
        for (int x = 0; x < qkvg.length; x++) {
            int col = x % (4 * c);
            if (col >= c && col < 2 * c) qkvg[x] = keyScale * qkvg[x] + keyShift;
            if (col >= 2 * c && col < 3 * c) qkvg[x] += valueShift;
        }
    }

    /**
     * One case: the reference once, then each CPU backend, compared output by output. Inputs are N(0,1), the
     * projection {@code (B, N, 4C)} then edited by {@code shape}.
     */
    private static void linearCase(long seed, int b, int gh, int gw, int heads, int d, Tolerance tolerance,
                                   Consumer<float[]> shape) {
        int n = gh * gw, c = heads * d;
        String what = "linear B=" + b + " N=" + n + " (" + gh + "x" + gw + ") heads=" + heads + " d=" + d;
        float[] qkvg = TestData.normal(seed, b * n * 4 * c);
        shape.accept(qkvg);
        float[] s1 = TestData.normal(seed + 1, heads * 2 * d), s2 = TestData.normal(seed + 2, heads * 2 * d);
        float[] dOut = TestData.normal(seed + 3, b * n * c);
        float[] ds1 = TestData.normal(seed + 4, heads * 2 * d), ds2 = TestData.normal(seed + 5, heads * 2 * d);
        float[][] tables = RopeTables.compute(RopeTables.defaultAngles(2 * c, heads), gh, gw);

        Result ref = runLinear(REF, b, n, c, heads, d, qkvg, s1, s2, dOut, ds1, ds2, tables);
        for (Backend cpu : CPU) {
            Result got = runLinear(cpu, b, n, c, heads, d, qkvg, s1, s2, dOut, ds1, ds2, tables);
            String where = what + " on " + cpu.describe();
            ref.assertMatches(got, where, tolerance);
        }
    }

    private static Result runLinear(Backend be, int b, int n, int c, int heads, int d, float[] qkvgValues,
                                    float[] s1v, float[] s2v, float[] dOutValues, float[] ds1v, float[] ds2v,
                                    float[][] tableValues) {
        try (Tensor qkvg = be.fromArray(qkvgValues, b, n, 4 * c);
             Tensor s1 = be.fromArray(s1v, 1, heads, 1, 2 * d);
             Tensor s2 = be.fromArray(s2v, 1, heads, 1, 2 * d);
             Tensor outWide = be.empty(b, n, 2 * c);
             Tensor dOutWide = be.zeros(b, n, 2 * c);
             Tensor grad = be.empty(b, n, 4 * c);
             Tensor ds1 = be.fromArray(ds1v, 1, heads, 1, 2 * d);
             Tensor ds2 = be.fromArray(ds2v, 1, heads, 1, 2 * d);
             RopeTables rope = new RopeTables(be.fromArray(tableValues[0], n, 2 * d),
                     be.fromArray(tableValues[1], n, 2 * d))) {
            Tensor q = qkvg.narrow(2, 0, c), k = qkvg.narrow(2, c, c), v = qkvg.narrow(2, 2 * c, c);
            // out and dOut are column slices too, with NaN around out so a stray write shows.
            be.fill(outWide, Float.NaN);
            Tensor out = outWide.narrow(2, c, c), dOut = dOutWide.narrow(2, 0, c);
            try (Tensor dOutValuesT = be.fromArray(dOutValues, b, n, c)) {
                be.copy(dOutValuesT, dOut);
            }
            be.fill(grad, Float.NaN);
            be.linearAttention().forward(q, k, v, heads, s1, s2, rope, out);
            be.linearAttention().backward(q, k, v, heads, s1, s2, rope, dOut,
                    grad.narrow(2, 0, c), grad.narrow(2, c, c), grad.narrow(2, 2 * c, c), ds1, ds2);
            return new Result(List.of(
                    new Output("out", out.toArray()),
                    new Output("dq", grad.narrow(2, 0, c).toArray()),
                    new Output("dk", grad.narrow(2, c, c).toArray()),
                    new Output("dv", grad.narrow(2, 2 * c, c).toArray()),
                    new Output("ds1", ds1.toArray()),
                    new Output("ds2", ds2.toArray())),
                    List.of(outWide.narrow(2, 0, c).toArray(), grad.narrow(2, 3 * c, c).toArray()));
        }
    }

    // ================================================================ softmax attention

    @Test
    void softmaxMatchesReferenceOverTheSweep() {
        int i = 0;
        for (int d : HEAD_DIMS)
            for (int[] grid : GRIDS) {
                int heads = 1 + (i + 1) % 3, batch = (i / 3) % 2 == 1 ? 1 : 3;
                softmaxCase(200 + i, batch, grid[0], grid[1], heads, d);
                i++;
            }
    }

    @Test
    void softmaxModelShapes() {
        softmaxCase(20, 2, 14, 14, 4, 32);  // stage 2 of b0: N = 196, 4 heads
        softmaxCase(21, 1, 7, 7, 12, 32);   // stage 3 of b0: N = 49, 12 heads
        softmaxCase(22, 1, 7, 9, 2, 64);    // b2 head size, non-square
    }

    private static void softmaxCase(long seed, int b, int gh, int gw, int heads, int d) {
        int n = gh * gw, c = heads * d;
        String what = "softmax B=" + b + " N=" + n + " (" + gh + "x" + gw + ") heads=" + heads + " d=" + d;
        float[] qkvo = TestData.normal(seed, b * n * 4 * c);
        float[] dOut = TestData.normal(seed + 3, b * n * c);
        float[] angles = d % 4 == 0 ? RopeTables.defaultAngles(c, heads) : TestData.uniform(seed + 6, d / 2, 0, 1);
        float[][] tables = RopeTables.compute(angles, gh, gw);
        Result ref = runSoftmax(REF, b, n, c, heads, d, qkvo, dOut, tables);
        for (Backend cpu : CPU) {
            Result got = runSoftmax(cpu, b, n, c, heads, d, qkvo, dOut, tables);
            ref.assertMatches(got, what + " on " + cpu.describe(), SWEEP);
        }
    }

    private static Result runSoftmax(Backend be, int b, int n, int c, int heads, int d, float[] qkvoValues,
                                     float[] dOutValues, float[][] tableValues) {
        try (Tensor qkvo = be.fromArray(qkvoValues, b, n, 4 * c);
             Tensor out = be.empty(b, n, c);
             Tensor dOut = be.fromArray(dOutValues, b, n, c);
             Tensor grad = be.empty(b, n, 4 * c);
             RopeTables rope = new RopeTables(be.fromArray(tableValues[0], n, d), be.fromArray(tableValues[1], n, d))) {
            Tensor q = qkvo.narrow(2, 0, c), k = qkvo.narrow(2, c, c), v = qkvo.narrow(2, 2 * c, c);
            be.fill(out, Float.NaN);
            be.fill(grad, Float.NaN);
            be.softmaxAttention().forward(q, k, v, heads, rope, out);
            be.softmaxAttention().backward(q, k, v, heads, rope, dOut,
                    grad.narrow(2, 0, c), grad.narrow(2, c, c), grad.narrow(2, 2 * c, c));
            return new Result(List.of(
                    new Output("out", out.toArray()),
                    new Output("dq", grad.narrow(2, 0, c).toArray()),
                    new Output("dk", grad.narrow(2, c, c).toArray()),
                    new Output("dv", grad.narrow(2, 2 * c, c).toArray())),
                    List.of(grad.narrow(2, 3 * c, c).toArray()));
        }
    }

    // ================================================================ bad input

    @Test
    void rejectsWrongShapesNamingTheOp() {
        Backend cpu = CPU[CPU.length - 1];
        int b = 1, n = 4, c = 8, heads = 2, d = 4;
        try (Tensor q = cpu.zeros(b, n, c); Tensor k = cpu.zeros(b, n, c); Tensor v = cpu.zeros(b, n, c);
             Tensor shortK = cpu.zeros(b, n - 1, c); Tensor out = cpu.zeros(b, n, c);
             Tensor s = cpu.zeros(1, heads, 1, 2 * d); Tensor badS = cpu.zeros(1, heads, 1, d);
             Tensor ds1 = cpu.zeros(1, heads, 1, 2 * d); Tensor ds2 = cpu.zeros(1, heads, 1, 2 * d);
             Tensor g = cpu.zeros(b, n, c); Tensor dq = cpu.zeros(b, n, c); Tensor dk = cpu.zeros(b, n, c);
             Tensor dv = cpu.zeros(b, n, c);
             RopeTables linear = new RopeTables(cpu.zeros(n, 2 * d), cpu.zeros(n, 2 * d));
             RopeTables soft = new RopeTables(cpu.zeros(n, d), cpu.zeros(n, d))) {
            var la = cpu.linearAttention();
            var sa = cpu.softmaxAttention();
            assertRejects("linearAttention", () -> la.forward(q, shortK, v, heads, s, s, linear, out));
            assertRejects("linearAttention", () -> la.forward(q, k, v, heads, badS, s, linear, out));
            assertRejects("linearAttention", () -> la.forward(q, k, v, 3, s, s, linear, out));
            assertRejects("linearAttention", () -> la.forward(q, k, v, heads, s, s, soft, out));
            assertRejects("linearAttentionBackward",
                    () -> la.backward(q, k, v, heads, s, s, linear, g, dq, shortK, dv, ds1, ds2));
            assertRejects("linearAttentionBackward",
                    () -> la.backward(q, k, v, heads, s, s, linear, g, dq, dk, dv, badS, ds2));
            assertRejects("softmaxAttention", () -> sa.forward(q, shortK, v, heads, soft, out));
            assertRejects("softmaxAttention", () -> sa.forward(q, k, v, heads, linear, out));
            assertRejects("softmaxAttentionBackward", () -> sa.backward(q, k, v, heads, soft, g, dq, dk, shortK));
        }
    }

    /**
     * A key of 100 overflows exp in float32: the call fails and names where. Two geometries: one task per
     * (batch, head), and batch 1 with one head split into token chunks (with 2 threads).
     */
    @Test
    void aKeyThatOverflowsExpFailsNamingWhere() {
        keyOverflowCase(2, 70, 8, 2, 1, 66, 5, "batch 1, token 66, head 1");
        keyOverflowCase(1, 300, 4, 1, 0, 250, 3, "batch 0, token 250, head 0");
    }

    private static void keyOverflowCase(int b, int n, int c, int heads, int badBatch, int badToken, int badChannel,
                                        String where) {
        int d = c / heads;
        float[] keys = TestData.normal(30, b * n * c);
        keys[(badBatch * n + badToken) * c + badChannel] = 100f;
        for (Backend cpu : CPU) {
            try (Tensor q = TestData.normal(cpu, 31, b, n, c); Tensor k = cpu.fromArray(keys, b, n, c);
                 Tensor v = TestData.normal(cpu, 32, b, n, c); Tensor out = cpu.zeros(b, n, c);
                 Tensor s = cpu.zeros(1, heads, 1, 2 * d); Tensor ds = cpu.zeros(1, heads, 1, 2 * d);
                 Tensor dq = cpu.zeros(b, n, c); Tensor dk = cpu.zeros(b, n, c); Tensor dv = cpu.zeros(b, n, c);
                 RopeTables rope = new RopeTables(cpu.zeros(n, 2 * d), cpu.zeros(n, 2 * d))) {
                var la = cpu.linearAttention();
                for (Runnable call : new Runnable[] {
                        () -> la.forward(q, k, v, heads, s, s, rope, out),
                        () -> la.backward(q, k, v, heads, s, s, rope, out, dq, dk, dv, ds, ds)}) {
                    ArithmeticException e = assertThrows(ArithmeticException.class, call::run);
                    assertTrue(e.getMessage() != null && e.getMessage().contains(where), () -> cpu.describe() + ": "
                            + e.getMessage());
                }
            }
        }
    }

    private static void assertRejects(String op, Runnable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call::run);
        assertTrue(e.getMessage().startsWith(op + ":"), () -> "message should name " + op + ": " + e.getMessage());
    }

    // ================================================================ comparison

    private record Output(String name, float[] values) {}

    /** The outputs of one run, and the regions around them that the op must leave alone. */
    private record Result(List<Output> outputs, List<float[]> untouched) {
        void assertMatches(Result got, String where, Tolerance tolerance) {
            for (int i = 0; i < outputs.size(); i++) {
                Output r = outputs.get(i), g = got.outputs.get(i);
                if (REPORT) {
                    System.out.printf("error %-4s %.3e  max %.3e  %s%n", r.name, Closeness.maxRelativeToMax(r.values, g.values),
                            maxAbs(r.values), where);
                } else {
                    assertClose(where + ": " + r.name, r.values, g.values, tolerance);
                }
            }
            for (float[] region : got.untouched) {
                for (int x = 0; x < region.length; x++) {
                    if (!Float.isNaN(region[x])) {
                        throw new AssertionError(where + ": wrote " + region[x] + " outside its output, at " + x);
                    }
                }
            }
        }
    }

    /**
     * {@link Closeness#assertClose} with the scale {@code max|ref|} floored at {@code tolerance.floor} (1 in the
     * sweeps): the inputs and
     * the upstream gradient are O(1), so a float kernel's absolute rounding error is some 1e-7 of terms of size
     * 1–10, and a result that cancels far below that scale cannot be resolved better. Linear attention at N = 1
     * is the case: RoPE is the identity on token 0, so out = v·z/(z + 1e-6) and dq, dk are pure 1e-6 effects,
     * 1e-7 to 1e-3 in size, from terms up to 10 that cancel (measured absolute errors up to 3e-6).
     */
    private static void assertClose(String what, float[] ref, float[] got, Tolerance tolerance) {
        double max = maxAbs(ref), absOfMax = tolerance.absOfMax, rel = tolerance.rel, floor = tolerance.floor;
        if (max >= floor) {
            Closeness.assertClose(what, ref, got, absOfMax, rel);
            return;
        }
        for (int i = 0; i < ref.length; i++) {
            double err = Math.abs((double) got[i] - ref[i]), allowed = absOfMax * floor + rel * Math.abs(ref[i]);
            if (!(err <= allowed)) {
                throw new AssertionError(String.format("%s: element %d is %.9g, expected %.9g (|err| %.3g, allowed %.3g"
                        + " = %.1e·%.1f (scale floor) + %.1e·|ref|)", what, i, got[i], ref[i], err, allowed, absOfMax,
                        floor, rel));
            }
        }
    }

    private static double maxAbs(float[] a) {
        double max = 0;
        for (float x : a) max = Math.max(max, Math.abs(x));
        return max;
    }

    /** The environment variable {@code ATTENTION_REPORT} prints the errors of every comparison (for tuning the tolerances). */
    private static final boolean REPORT = System.getenv("ATTENTION_REPORT") != null;
}
