package dev.polaformer.bench;

import dev.polaformer.numerics.cpu.Parallel;
import dev.polaformer.numerics.cpu.Sgemm;
import dev.polaformer.numerics.cpu.Simd;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * SGEMM throughput of our Vector API kernel ({@link Sgemm}) and of OpenBLAS on the same arrays, one product
 * per operation (a batched shape counts the whole batch). GFLOP/s = ops/s × {@link GemmShape#flops()} / 1e9;
 * {@link SgemmReport} runs the set the results file shows and does that arithmetic.
 *
 * <p>{@code impl}: {@code polaformer} (the default vector width), {@code polaformer@256} or
 * {@code polaformer@512} (the width forced through {@code -Dpolaformer.vectorBits}, set here before the kernel
 * classes initialise: every parameter combination runs in its own JVM), or {@code openblas}. OpenBLAS has no
 * batched call in the Debian version, so a batched shape loops over the batch, as a caller would.
 *
 * <p>Every trial ends by checking a sample of {@code C} against a double-precision dot product, so a number in
 * the table is always the speed of a correct product.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 3, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "-XX:+UseParallelGC", "-Xms2g", "-Xmx2g"})
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 5, time = 1)
public class SgemmBenchmark {
    /** The model's shapes: MLP and projection products of stages 1 and 3 for 8 images, attention scores. */
    @Param({"1024x1024x1024:NN", "25088x256x64:NT", "25088x224x64:NT", "1568x512x128:NT", "32*196x196x32:NT"})
    public String shape;

    @Param({"1", "2"})
    public int threads;

    @Param({"polaformer", "openblas"})
    public String impl;

    private GemmShape s;
    private float[] a, b, c;
    private int strideA, strideB, strideC;
    private Parallel parallel;
    private OpenBlas blas;

    @Setup(Level.Trial)
    public void setUp() {
        s = GemmShape.parse(shape);
        if (impl.startsWith("polaformer")) {
            int at = impl.indexOf('@');
            if (at >= 0) {
                String bits = impl.substring(at + 1);
                System.setProperty(Simd.PROPERTY, bits);
                if (Simd.F.vectorBitSize() != Integer.parseInt(bits)) {
                    throw new IllegalStateException("asked for " + bits + "-bit vectors, got " + Simd.describe()
                            + ": the kernel classes initialised before the property was set");
                }
            }
            parallel = new Parallel(threads);
            System.out.println("# polaformer Sgemm: " + Simd.describe() + ", " + threads + " thread(s)");
        } else if (impl.equals("openblas")) {
            blas = OpenBlas.get();
            blas.setThreads(threads);
            System.out.println("# OpenBLAS " + blas.path() + ": " + blas.describe() + ", " + threads + " thread(s)");
        } else {
            throw new IllegalArgumentException("impl must be polaformer, polaformer@BITS or openblas, not " + impl);
        }
        strideA = s.m() * s.k();
        strideB = s.k() * s.n();
        strideC = s.m() * s.n();
        a = random(1, s.batch() * strideA);
        b = random(2, s.batch() * strideB);
        c = new float[s.batch() * strideC];
    }

    private static float[] random(long seed, int n) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) (2 * r.nextDouble() - 1);
        return x;
    }

    @Benchmark
    public float[] sgemm() {
        GemmShape g = s;
        if (blas != null) {
            for (int p = 0; p < g.batch(); p++) {
                blas.sgemm(g.transA(), g.transB(), g.m(), g.n(), g.k(), 1f, a, p * strideA, g.lda(),
                        b, p * strideB, g.ldb(), 0f, c, p * strideC, g.n());
            }
        } else if (g.batch() == 1) {
            Sgemm.gemm(parallel, g.transA(), g.transB(), g.m(), g.n(), g.k(), 1f, a, 0, g.lda(), b, 0, g.ldb(),
                    0f, c, 0, g.n());
        } else {
            Sgemm.gemmBatched(parallel, g.batch(), g.transA(), g.transB(), g.m(), g.n(), g.k(), 1f,
                    a, 0, g.lda(), strideA, b, 0, g.ldb(), strideB, 0f, c, 0, g.n(), strideC);
        }
        return c;
    }

    /** A sample of {@code C} against double-precision dot products; fails the trial if the product is wrong. */
    @TearDown(Level.Trial)
    public void check() {
        GemmShape g = s;
        SplittableRandom r = new SplittableRandom(3);
        for (int t = 0; t < 64; t++) {
            int p = r.nextInt(g.batch()), i = r.nextInt(g.m()), j = r.nextInt(g.n());
            double sum = 0, scale = 0;
            for (int q = 0; q < g.k(); q++) {
                double av = g.transA() ? a[p * strideA + q * g.m() + i] : a[p * strideA + i * g.k() + q];
                double bv = g.transB() ? b[p * strideB + j * g.k() + q] : b[p * strideB + q * g.n() + j];
                sum += av * bv;
                scale += Math.abs(av * bv);
            }
            double got = c[p * strideC + i * g.n() + j];
            if (!(Math.abs(got - sum) <= 1e-5 * scale + 1e-30)) {
                throw new IllegalStateException(impl + " " + shape + ": C[" + p + "," + i + "," + j + "] = " + got
                        + ", expected " + sum);
            }
        }
    }
}
