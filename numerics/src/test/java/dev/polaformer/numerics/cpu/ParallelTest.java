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

    /**
     * A recording replays the loops of the recorded work, in order, each task once per replay, from any thread; loops
     * started inside a loop's body and work outside loops are not repeated; a failing replay leaves it usable.
     */
    @Test
    void aRecordingReplaysTheLoopsOfTheWorkAndNothingElse() throws Exception {
        Parallel p = new Parallel(3);
        int[] outside = {0};
        AtomicIntegerArray runs = new AtomicIntegerArray(100), nested = new AtomicIntegerArray(1);
        StringBuffer order = new StringBuffer();
        boolean[] fail = {false};
        Parallel.Recording r = p.record(() -> {
            outside[0]++;
            p.forEach(60, i -> runs.incrementAndGet(i));
            p.forEachHere(1, i -> order.append('a'));
            p.forRange(40, 1, (a, b) -> {
                for (int i = a; i < b; i++) runs.incrementAndGet(60 + i);
            });
            p.forEach(4, i -> p.forEach(3, j -> nested.incrementAndGet(0)));
            p.forEachHere(1, i -> {
                order.append('b');
                if (fail[0]) throw new IllegalStateException("failed on purpose");
            });
        });
        assertEquals(5, r.loops());
        r.replay();
        Thread other = new Thread(r::replay);
        other.start();
        other.join();
        assertEquals(1, outside[0], "work outside loops runs once");
        for (int i = 0; i < 100; i++) assertEquals(3, runs.get(i), "task " + i);
        assertEquals(3 * 12, nested.get(0), "nested loops run inside their body only");
        assertEquals("ababab", order.toString());
        fail[0] = true;
        assertThrows(IllegalStateException.class, r::replay);
        fail[0] = false;
        r.replay();
        for (int i = 0; i < 100; i++) assertEquals(5, runs.get(i), "task " + i + " after a failed replay");
        p.forEach(10, i -> runs.incrementAndGet(i));
        assertEquals(6, runs.get(0), "after recording, loops run once more and are not recorded");
        assertEquals(5, r.loops());
    }

    @Test
    void aSecondRecorderWaitsForTheFirst() throws Exception {
        Parallel p = new Parallel(2);
        java.util.concurrent.atomic.AtomicInteger order = new java.util.concurrent.atomic.AtomicInteger();
        int[] secondStartedAt = {-1};
        Parallel.Recording[] second = new Parallel.Recording[1];
        Thread t = new Thread(() -> second[0] = p.record(() -> {
            secondStartedAt[0] = order.incrementAndGet();
            p.forEach(3, i -> {});
        }));
        Parallel.Recording first = p.record(() -> {
            t.start();
            try {
                Thread.sleep(100);  // the other thread is waiting meanwhile
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
            order.incrementAndGet();
            p.forEach(5, i -> {});
        });
        t.join();
        assertEquals(2, secondStartedAt[0], "the second recording ran after the first");
        assertEquals(1, first.loops());
        assertEquals(1, second[0].loops(), "and recorded its own loops only");
        assertThrows(IllegalStateException.class, () -> p.record(() -> p.record(() -> {})), "no nesting");
    }
}
