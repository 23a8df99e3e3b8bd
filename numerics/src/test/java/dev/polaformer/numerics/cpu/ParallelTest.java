package dev.polaformer.numerics.cpu;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicIntegerArray;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

class ParallelTest {
    @Test
    void everyTaskRunsOnce() {
        Parallel p = new Parallel(3);
        AtomicIntegerArray runs = new AtomicIntegerArray(1000);
        p.forEach(1000, runs::incrementAndGet);
        for (int i = 0; i < 1000; i++) assertEquals(1, runs.get(i), "task " + i);
        AtomicIntegerArray covered = new AtomicIntegerArray(777);
        p.forRange(777, 10, (a, b) -> { for (int i = a; i < b; i++) covered.incrementAndGet(i); });
        for (int i = 0; i < 777; i++) assertEquals(1, covered.get(i));
    }

    @Test
    void concurrentCallersAndNestedCallsEachRunAllTheirTasks() throws Exception {
        Parallel p = new Parallel(2);
        int callers = 3, rounds = 300, tasks = 50;
        AtomicIntegerArray runs = new AtomicIntegerArray(callers * tasks);
        Thread[] threads = new Thread[callers];
        for (int c = 0; c < callers; c++) {
            int base = c * tasks;
            // each task of caller 0 makes a nested call, which runs serially on whichever thread runs the task
            threads[c] = new Thread(() -> {
                for (int r = 0; r < rounds; r++) {
                    p.forEach(tasks, i -> {
                        if (base == 0) p.forEach(2, j -> {});
                        runs.incrementAndGet(base + i);
                    });
                }
            });
            threads[c].start();
        }
        for (Thread t : threads) t.join();
        for (int i = 0; i < callers * tasks; i++) assertEquals(rounds, runs.get(i), "task " + i);
    }

    @Test
    void aWorkerFailureReachesTheCallerWithItsMessage() {
        Parallel p = new Parallel(2);
        IllegalArgumentException boom = new IllegalArgumentException("op: bad shape [3]");
        var e = assertThrows(IllegalArgumentException.class, () -> p.forEach(64, i -> {
            if (i == 40) throw boom;
            try {
                Thread.sleep(1);
            } catch (InterruptedException ignored) {
                Thread.currentThread().interrupt();
            }
        }));
        assertSame(boom, e);
        assertEquals("op: bad shape [3]", e.getMessage());
    }
}
