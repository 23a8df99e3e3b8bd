package dev.polaformer.cuda;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The pool's logic against a fake device with a fixed capacity: no CUDA is touched. */
class DeviceMemoryTest {
    private static final long MIB = 1L << 20;
    private static final long STREAM = 7, OTHER_STREAM = 8;

    /** A device of {@code capacity} bytes handing out increasing addresses, recording every call. */
    private static final class FakeDevice implements DeviceAllocator {
        final long capacity;
        long used;
        long nextAddress = 0x1000;
        int mallocs, frees;
        final Set<Long> live = new HashSet<>();
        final java.util.Map<Long, Long> sizes = new java.util.HashMap<>();

        FakeDevice(long capacity) {
            this.capacity = capacity;
        }

        @Override
        public long tryAllocate(long bytes) {
            mallocs++;
            if (used + bytes > capacity) return 0;
            used += bytes;
            long a = nextAddress;
            nextAddress += bytes;
            live.add(a);
            sizes.put(a, bytes);
            return a;
        }

        @Override
        public void free(long address) {
            frees++;
            assertTrue(live.remove(address), "double or foreign free of " + address);
            used -= sizes.remove(address);
        }

        @Override
        public long[] freeAndTotal() {
            return new long[] {capacity - used, capacity};
        }
    }

    @Test
    void sizeClassesArePowersOfTwoWhenSmallAnd2MiBMultiplesWhenLarge() {
        assertEquals(512, DeviceMemory.sizeClass(0));
        assertEquals(512, DeviceMemory.sizeClass(4));
        assertEquals(1024, DeviceMemory.sizeClass(513));
        assertEquals(MIB, DeviceMemory.sizeClass(MIB));
        assertEquals(2 * MIB, DeviceMemory.sizeClass(MIB + 1));
        assertEquals(4 * MIB, DeviceMemory.sizeClass(2 * MIB + 1));
        assertEquals(10 * MIB, DeviceMemory.sizeClass(9 * MIB + 5));
        assertThrows(IllegalArgumentException.class, () -> DeviceMemory.sizeClass(-1));
    }

    @Test
    void releasedBlocksAreReusedOnTheirStreamOnly() {
        FakeDevice device = new FakeDevice(64 * MIB);
        DeviceMemory pool = new DeviceMemory(device);
        DeviceMemory.Block a = pool.allocate(3000, STREAM);
        assertEquals(4096, a.bytes());
        pool.release(a);
        assertEquals(0, pool.inUseBytes());
        assertEquals(4096, pool.cachedBytes());

        DeviceMemory.Block b = pool.allocate(4000, STREAM);   // same class, same stream: the cached block
        assertEquals(a.address(), b.address());
        assertEquals(1, device.mallocs);
        assertEquals(1, pool.reuseCount());

        pool.release(b);
        DeviceMemory.Block c = pool.allocate(4000, OTHER_STREAM); // another stream must not get it
        assertNotEquals(a.address(), c.address());
        assertEquals(2, device.mallocs);
        assertEquals(4096, pool.cachedBytes());
        assertEquals(4096, pool.inUseBytes());
    }

    @Test
    void accountingTracksInUseCachedAndPeaks() {
        DeviceMemory pool = new DeviceMemory(new FakeDevice(64 * MIB));
        List<DeviceMemory.Block> blocks = new ArrayList<>();
        for (int i = 0; i < 3; i++) blocks.add(pool.allocate(3 * MIB, STREAM)); // 4 MiB each
        assertEquals(12 * MIB, pool.inUseBytes());
        for (DeviceMemory.Block b : blocks) pool.release(b);
        assertEquals(0, pool.inUseBytes());
        assertEquals(12 * MIB, pool.cachedBytes());
        assertEquals(12 * MIB, pool.peakInUseBytes());
        assertEquals(12 * MIB, pool.peakReservedBytes());
        pool.trim();
        assertEquals(0, pool.cachedBytes());
        pool.resetPeak();
        assertEquals(0, pool.peakInUseBytes());
        assertTrue(pool.describe().contains("in use 0.0 MiB"), pool.describe());
    }

    @Test
    void runningOutFreesTheCacheAndRetriesOnce() {
        FakeDevice device = new FakeDevice(10 * MIB);
        DeviceMemory pool = new DeviceMemory(device);
        pool.release(pool.allocate(6 * MIB, STREAM));   // 6 MiB cached
        DeviceMemory.Block big = pool.allocate(8 * MIB, STREAM); // does not fit beside the cache
        assertEquals(8 * MIB, big.bytes());
        assertEquals(1, device.frees);
        assertEquals(0, pool.cachedBytes());
        assertEquals(8 * MIB, pool.inUseBytes());
        assertEquals(8 * MIB, device.used);
    }

    @Test
    void outOfMemoryStatesRequestAndPoolAndLeavesThePoolUsable() {
        FakeDevice device = new FakeDevice(16 * MIB);
        DeviceMemory pool = new DeviceMemory(device);
        DeviceMemory.Block held = pool.allocate(8 * MIB, STREAM);
        pool.release(pool.allocate(4 * MIB, STREAM));
        CudaOutOfMemoryException e = assertThrows(CudaOutOfMemoryException.class,
                () -> pool.allocate(10 * MIB, STREAM));
        String m = e.getMessage();
        assertTrue(m.contains("could not allocate " + 10 * MIB + " bytes"), m);
        assertTrue(m.contains("in use 8.0 MiB"), m);
        assertTrue(m.contains("cached 0.0 MiB (4.0 MiB returned to the driver before retrying)"), m);
        assertTrue(m.contains("device free 8.0 MiB of 16.0 MiB"), m);
        assertEquals(10 * MIB, e.requestedBytes());
        assertEquals(4, device.mallocs, "two blocks, then one try and one retry after freeing the cache");

        // Still usable: release what is held and the same request now fits.
        pool.release(held);
        DeviceMemory.Block again = pool.allocate(10 * MIB, STREAM);
        assertEquals(10 * MIB, again.bytes());
        assertEquals(10 * MIB, pool.inUseBytes());
    }
}
