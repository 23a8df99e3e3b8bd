package dev.polaformer.model;

import dev.polaformer.numerics.Tensor;
import dev.polaformer.numerics.TestData;
import dev.polaformer.numerics.cpu.CpuBackend;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * {@link InferencePlan#logits} records the forward pass of each input shape once and replays its kernels after.
 * A kernel the recording missed (work done outside the thread pool's loops) would leave its output as the recorded
 * call computed it: so each replay gets new images, and must give exactly, bit for bit, what an ordinary forward
 * of the same images gives. On one thread and on two (the kernels take other paths), at shapes whose ops take
 * their serial and parallel paths, and with two shapes alternating.
 */
class InferenceReplayTest {
    @ParameterizedTest(name = "{0} thread(s), b0 at batch {1}, {2}×{3}")
    @CsvSource({"1, 1, 64, 64", "2, 1, 64, 96", "2, 3, 64, 64", "2, 1, 224, 224"})
    void replayedForwardsEqualOrdinaryOnes(int threads, int batch, int height, int width) {
        CpuBackend backend = new CpuBackend(threads);
        try (PolaFormer model = new PolaFormer(backend, Variant.of("b0"), 10)) {
            Initializer.initialize(model, 11);
            try (InferencePlan plan = InferencePlan.of(model)) {
                int other = height == 64 ? 96 : 64;
                for (int call = 0; call < 4; call++) {
                    float[] images = TestData.normal(200 + call, batch * height * width * 3);
                    float[] replayed = new float[batch * 10];
                    plan.logits(images, batch, height, width, replayed);
                    assertArrayEquals(ordinary(plan, images, batch, height, width), replayed, "call " + call);
                    // another shape in between: its recording and replays must not disturb this one's
                    float[] between = TestData.normal(300 + call, other * other * 3), logits = new float[10];
                    plan.logits(between, 1, other, other, logits);
                    assertArrayEquals(ordinary(plan, between, 1, other, other), logits, "call " + call + " at " + other);
                }
            }
        }
    }

    /**
     * Two plans on one backend whose first calls of a shape come at once: the backend records one forward at a time,
     * so the second waits for the first (it used to fail), and both give their ordinary results.
     */
    @org.junit.jupiter.api.Test
    void twoPlansOnOneBackendRecordAtTheSameTime() throws Exception {
        CpuBackend backend = new CpuBackend(2);
        try (PolaFormer a = new PolaFormer(backend, Variant.of("b0"), 10); PolaFormer b = new PolaFormer(backend, Variant.of("b0"), 10)) {
            Initializer.initialize(a, 21);
            Initializer.initialize(b, 22);
            try (InferencePlan pa = InferencePlan.of(a); InferencePlan pb = InferencePlan.of(b)) {
                for (int size : new int[] {64, 96, 128}) {
                    float[] images = TestData.normal(size, size * size * 3), la = new float[10], lb = new float[10];
                    java.util.concurrent.CountDownLatch start = new java.util.concurrent.CountDownLatch(1);
                    Throwable[] failure = new Throwable[1];
                    Thread other = new Thread(() -> {
                        try {
                            start.await();
                            pb.logits(images, 1, size, size, lb);
                        } catch (Throwable e) {
                            failure[0] = e;
                        }
                    });
                    other.start();
                    start.countDown();
                    pa.logits(images, 1, size, size, la);
                    other.join();
                    if (failure[0] != null) throw new AssertionError("the other plan's call failed", failure[0]);
                    assertArrayEquals(ordinary(pa, images, 1, size, size), la, "plan a at " + size);
                    assertArrayEquals(ordinary(pb, images, 1, size, size), lb, "plan b at " + size);
                    pb.logits(images, 1, size, size, lb);  // and replays
                    assertArrayEquals(ordinary(pb, images, 1, size, size), lb, "plan b replayed at " + size);
                }
            }
        }
    }

    /** The logits of a forward through the plan's weights, without its planned memory or recording. */
    private static float[] ordinary(InferencePlan plan, float[] images, int batch, int height, int width) {
        try (Pass pass = Pass.inference(plan, null)) {
            Tensor x = pass.empty(batch, height, width, PolaFormer.IN_CHANNELS);
            x.storage().write(x.offset(), images, 0, images.length);
            return plan.model().forward(x, pass).toArray();
        }
    }
}
