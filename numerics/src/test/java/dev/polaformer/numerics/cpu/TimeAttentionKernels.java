package dev.polaformer.numerics.cpu;

import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.RopeTables;
import dev.polaformer.numerics.Tensor;
import dev.polaformer.numerics.TestData;
import java.util.Arrays;

/**
 * A by-hand timing of the CPU attention cores at the model's shapes (not a test; no assertions). Run after
 * {@code mvn -o -pl numerics test-compile}:
 * <pre>
 *   java --add-modules jdk.incubator.vector -cp numerics/target/classes:numerics/target/test-classes \
 *        dev.polaformer.numerics.cpu.TimeAttentionKernels [threads] [seconds per case] [name filter] [fwd]
 * </pre>
 * Inputs are column slices of a {@code (B, N, 4C)} projection as in the model. Prints the median and the best
 * time per call of the forward and of forward + backward.
 */
public final class TimeAttentionKernels {
    private TimeAttentionKernels() {}

    public static void main(String[] args) {
        int threads = args.length > 0 ? Integer.parseInt(args[0]) : 2;
        double seconds = args.length > 1 ? Double.parseDouble(args[1]) : 1.5;
        filter = args.length > 2 ? args[2] : "";
        forwardOnly = args.length > 3 && args[3].equals("fwd");
        CpuBackend cpu = new CpuBackend(threads);
        System.out.println("cpu backend: " + cpu.describe());
        linear(cpu, "linear  B=1 N=3136 C=32  heads=1 ", 1, 56, 56, 32, 1, seconds);
        linear(cpu, "linear  B=8 N=3136 C=32  heads=1 ", 8, 56, 56, 32, 1, seconds);
        linear(cpu, "linear  B=8 N=784  C=64  heads=2 ", 8, 28, 28, 64, 2, seconds);
        linear(cpu, "linear  B=32 N=3136 C=32 heads=1 ", 32, 56, 56, 32, 1, seconds);
        linear(cpu, "linear  B=32 N=784 C=64  heads=2 ", 32, 28, 28, 64, 2, seconds);
        linear(cpu, "linear  B=1 N=3136 C=64  heads=1 ", 1, 56, 56, 64, 1, seconds);
        softmax(cpu, "softmax B=8 N=196  C=128 heads=4 ", 8, 14, 14, 128, 4, seconds);
        softmax(cpu, "softmax B=1 N=49   C=384 heads=12", 1, 7, 7, 384, 12, seconds);
    }

    private static void linear(Backend be, String name, int b, int gh, int gw, int c, int heads, double seconds) {
        int n = gh * gw, d = c / heads;
        float[][] tables = RopeTables.compute(RopeTables.defaultAngles(2 * c, heads), gh, gw);
        try (Tensor qkvg = TestData.normal(be, 1, b, n, 4 * c);
             Tensor s1 = TestData.normal(be, 2, 1, heads, 1, 2 * d);
             Tensor s2 = TestData.normal(be, 3, 1, heads, 1, 2 * d);
             Tensor out = be.empty(b, n, c);
             Tensor dOut = TestData.normal(be, 4, b, n, c);
             Tensor grad = be.empty(b, n, 4 * c);
             Tensor ds1 = be.zeros(1, heads, 1, 2 * d);
             Tensor ds2 = be.zeros(1, heads, 1, 2 * d);
             RopeTables rope = new RopeTables(be.fromArray(tables[0], n, 2 * d), be.fromArray(tables[1], n, 2 * d))) {
            Tensor q = qkvg.narrow(2, 0, c), k = qkvg.narrow(2, c, c), v = qkvg.narrow(2, 2 * c, c);
            Tensor dq = grad.narrow(2, 0, c), dk = grad.narrow(2, c, c), dv = grad.narrow(2, 2 * c, c);
            var la = be.linearAttention();
            Runnable fwd = () -> la.forward(q, k, v, heads, s1, s2, rope, out);
            Runnable both = () -> {
                la.forward(q, k, v, heads, s1, s2, rope, out);
                la.backward(q, k, v, heads, s1, s2, rope, dOut, dq, dk, dv, ds1, ds2);
            };
            report(name, fwd, both, seconds);
        }
    }

    private static void softmax(Backend be, String name, int b, int gh, int gw, int c, int heads, double seconds) {
        int n = gh * gw, d = c / heads;
        float[][] tables = RopeTables.compute(RopeTables.defaultAngles(c, heads), gh, gw);
        try (Tensor qkvo = TestData.normal(be, 1, b, n, 4 * c);
             Tensor out = be.empty(b, n, c);
             Tensor dOut = TestData.normal(be, 4, b, n, c);
             Tensor grad = be.empty(b, n, 4 * c);
             RopeTables rope = new RopeTables(be.fromArray(tables[0], n, d), be.fromArray(tables[1], n, d))) {
            Tensor q = qkvo.narrow(2, 0, c), k = qkvo.narrow(2, c, c), v = qkvo.narrow(2, 2 * c, c);
            Tensor dq = grad.narrow(2, 0, c), dk = grad.narrow(2, c, c), dv = grad.narrow(2, 2 * c, c);
            var sa = be.softmaxAttention();
            Runnable fwd = () -> sa.forward(q, k, v, heads, rope, out);
            Runnable both = () -> {
                sa.forward(q, k, v, heads, rope, out);
                sa.backward(q, k, v, heads, rope, dOut, dq, dk, dv);
            };
            report(name, fwd, both, seconds);
        }
    }

    private static String filter = "";
    private static boolean forwardOnly;

    private static void report(String name, Runnable fwd, Runnable both, double seconds) {
        if (!name.replace(" ", "").contains(filter.replace(" ", ""))) return;
        double[] f = time(fwd, seconds), fb = forwardOnly ? new double[2] : time(both, seconds);
        System.out.printf("%s  forward %8.3f ms (best %8.3f)   fwd+bwd %8.3f ms (best %8.3f)%n",
                name, f[0], f[1], fb[0], fb[1]);
    }

    /** Warms up for {@code seconds}, then times for {@code seconds}; returns {median, best} in ms. */
    private static double[] time(Runnable r, double seconds) {
        long warm = System.nanoTime() + (long) (seconds * 1e9);
        while (System.nanoTime() < warm) r.run();
        double[] samples = new double[10000];
        int count = 0;
        long end = System.nanoTime() + (long) (seconds * 1e9);
        while ((System.nanoTime() < end || count < 5) && count < samples.length) {
            long t0 = System.nanoTime();
            r.run();
            samples[count++] = (System.nanoTime() - t0) / 1e6;
        }
        double[] s = Arrays.copyOf(samples, count);
        Arrays.sort(s);
        return new double[] {s[count / 2], s[0]};
    }
}
