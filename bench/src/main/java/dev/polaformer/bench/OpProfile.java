package dev.polaformer.bench;

import dev.polaformer.model.InferencePlan;
import dev.polaformer.model.Initializer;
import dev.polaformer.model.PolaFormer;
import dev.polaformer.model.Variant;
import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.Backends;
import dev.polaformer.numerics.LinearAttention;
import dev.polaformer.numerics.SoftmaxAttention;
import dev.polaformer.numerics.Tensor;
import dev.polaformer.numerics.cpu.CpuBackend;
import dev.polaformer.train.TrainingStep;

import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Where the time of a whole-model forward or training step goes, op by op: a backend behind a proxy that times
 * every {@link Backend} call (and the attention cores' calls) with {@link System#nanoTime}. A backend that queues
 * work (cuda) is synchronised after each call, so each op is charged its device time; that serialises the
 * host and the device, so the total is then above the benchmark's.
 * A diagnostic, not a benchmark: the proxy adds a little per call, and JMH's {@link ModelBenchmark} is the
 * number to quote for the whole model.
 *
 * <pre>
 * java --add-modules=jdk.incubator.vector -cp bench/target/benchmarks.jar dev.polaformer.bench.OpProfile \
 *     [backend=cpu] [variant=b0] [batch=8] [threads=2] [size=224] [train=false] [warmup=10] [iterations=15]
 *     [shapes=false]
 * </pre>
 * With {@code shapes=true} each op is split by the shapes of its tensor arguments.
 * Training runs one iteration of the official recipe ({@link TrainingStep}: Mixup/CutMix, forward, loss,
 * backward, clipping, AdamW, EMA), as {@code ModelBenchmark.trainStep} does.
 */
public final class OpProfile {
    private final Map<String, long[]> times = new HashMap<>();  // op → {nanoseconds, calls}
    private final boolean byShape;
    private Runnable synchronize = () -> {};

    private OpProfile(boolean byShape) {
        this.byShape = byShape;
    }

    public static void main(String[] args) {
        Map<String, String> o = new HashMap<>(Map.of("backend", "cpu", "variant", "b0", "batch", "8", "threads", "2", "size", "224",
                "train", "false", "warmup", "10", "iterations", "15", "shapes", "false"));
        for (String a : args) {
            int eq = a.indexOf('=');
            if (eq < 0 || !o.containsKey(a.substring(0, eq))) throw new IllegalArgumentException("unknown option " + a + "; options: " + o.keySet());
            o.put(a.substring(0, eq), a.substring(eq + 1));
        }
        Variant v = Variant.of(o.get("variant"));
        int batch = Integer.parseInt(o.get("batch")), threads = Integer.parseInt(o.get("threads"));  // cpu only
        int size = Integer.parseInt(o.get("size")), warmup = Integer.parseInt(o.get("warmup"));
        int iterations = Integer.parseInt(o.get("iterations"));
        boolean train = Boolean.parseBoolean(o.get("train"));
        String load = Results.loadAverage();
        String id = o.get("backend");
        Backend real = id.equals("cpu") ? new CpuBackend(threads) : Backends.get(id);
        new OpProfile(Boolean.parseBoolean(o.get("shapes"))).run(real, v, batch, size, train, warmup, iterations, load);
    }

    private void run(Backend real, Variant v, int batch, int size, boolean train, int warmup, int iterations,
                     String loadBefore) {
        synchronize = real::synchronize;
        Backend backend = timed(real, Backend.class, "");
        Runnable iteration = train ? trainingStep(backend, v, batch, size) : forward(backend, v, batch, size);
        for (int i = 0; i < warmup; i++) iteration.run();
        times.clear();
        long start = System.nanoTime();
        for (int i = 0; i < iterations; i++) iteration.run();
        double total = (System.nanoTime() - start) / 1e6 / iterations;
        System.out.printf(Locale.ROOT, "%s %s, batch %d, %d², %s: %.1f ms per iteration (%.1f images/s), "
                        + "%d iterations after %d warm-up; load average before %s, after %s%n",
                v.name(), train ? "training step" : "forward", batch, size, real.describe(), total,
                1000 * batch / total, iterations, warmup, loadBefore, Results.loadAverage());
        System.out.println("| op | ms/iter | calls/iter | share |");
        System.out.println("|---|---:|---:|---:|");
        times.entrySet().stream().sorted((a, b) -> Long.compare(b.getValue()[0], a.getValue()[0])).forEach(e -> {
            double ms = e.getValue()[0] / 1e6 / iterations;
            System.out.printf(Locale.ROOT, "| %s | %.2f | %d | %.1f%% |%n", e.getKey(), ms,
                    e.getValue()[1] / iterations, 100 * ms / total);
        });
    }

    private static Runnable forward(Backend backend, Variant v, int batch, int size) {
        PolaFormer model = new PolaFormer(backend, v, 1000);
        Initializer.initialize(model, 1);
        InferencePlan plan = InferencePlan.of(model);  // the path Predictor runs
        float[] images = TrainingWorkload.noise(2, batch * size * size * 3), logits = new float[batch * 1000];
        return () -> plan.logits(images, batch, size, size, logits);
    }

    private static Runnable trainingStep(Backend backend, Variant v, int batch, int size) {
        TrainingWorkload workload = new TrainingWorkload(backend, v, batch, size);
        return workload::run;
    }

    /** " (2,56,56,32) (32,1,3,3)": the shapes of the tensor arguments. */
    private static String shapes(Object[] args) {
        StringBuilder s = new StringBuilder();
        if (args != null) {
            for (Object a : args) {
                if (a instanceof Tensor t) s.append(java.util.Arrays.toString(t.shape()).replace(" ", ""));
            }
        }
        return s.isEmpty() ? "" : " " + s;
    }

    /** {@code target} behind a proxy that adds each call's time to its op, {@code prefix + method name}. */
    private <T> T timed(T target, Class<T> type, String prefix) {
        InvocationHandler h = (proxy, method, args) -> {
            // a recorded forward would replay its kernels past this proxy: profile the ops as they are called
            if (method.getName().equals("canRecord")) return false;
            long t0 = System.nanoTime();
            try {
                Object r = method.invoke(target, args);
                synchronize.run();
                if (r instanceof LinearAttention la) return timed(la, LinearAttention.class, "linearAttention.");
                if (r instanceof SoftmaxAttention sa) return timed(sa, SoftmaxAttention.class, "softmaxAttention.");
                return r;
            } catch (InvocationTargetException e) {
                throw e.getCause();
            } finally {
                long[] t = times.computeIfAbsent(prefix + method.getName() + (byShape ? shapes(args) : ""),
                        k -> new long[2]);
                t[0] += System.nanoTime() - t0;
                t[1]++;
            }
        };
        return type.cast(Proxy.newProxyInstance(OpProfile.class.getClassLoader(), new Class<?>[] {type}, h));
    }
}
