package dev.polaformer.cuda;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;

/**
 * A caching allocator for device memory. {@code cudaMalloc}/{@code cudaFree} synchronise the device and cost
 * tens of microseconds, while a training step allocates and releases the same few hundred shapes every step;
 * so released blocks are kept and handed out again for the next request of the same size class.
 *
 * <p>Size classes: requests are rounded up to a power of two from 512 bytes up to 1 MiB (small, numerous
 * tensors: statistics, biases) and to a multiple of 2 MiB above (activations; rounding those to powers of two
 * would waste up to half the device). A block is reused only on the stream it was last used on: work on one
 * stream runs in order, so a block released there is free for the next launch on the same stream without a
 * synchronisation; handing it to another stream could let that stream overwrite it while the first still reads.
 *
 * <p>When the device has no memory left, the cache is returned to the driver and the request retried once;
 * if that fails too, a {@link CudaOutOfMemoryException} states the request and the pool's state. The pool is
 * unchanged by the failure, so the caller can release tensors and go on.
 *
 * <p>Thread-safe (one lock; allocation is far cheaper than the launches it feeds).
 */
final class DeviceMemory {
    static final long SMALL_LIMIT = 1L << 20;
    static final long MIN_BLOCK = 512;
    static final long LARGE_GRANULE = 2L << 20;

    /** A block of device memory: its address, its size-class bytes, and the stream it may be reused on. */
    record Block(long address, long bytes, long stream) {}

    private final DeviceAllocator allocator;
    private final Map<Long, Map<Long, ArrayDeque<Long>>> cacheByStream = new HashMap<>();
    private long inUse;
    private long cached;
    private long peakInUse;
    private long peakReserved;
    private long allocations;
    private long reuses;

    DeviceMemory(DeviceAllocator allocator) {
        this.allocator = allocator;
    }

    /** The bytes a request of {@code bytes} occupies. */
    static long sizeClass(long bytes) {
        if (bytes < 0) throw new IllegalArgumentException("negative allocation " + bytes);
        if (bytes <= MIN_BLOCK) return MIN_BLOCK;
        if (bytes <= SMALL_LIMIT) return Long.highestOneBit(bytes - 1) << 1;
        return (bytes + LARGE_GRANULE - 1) / LARGE_GRANULE * LARGE_GRANULE;
    }

    /** A block of at least {@code bytes} for use on {@code stream}. */
    synchronized Block allocate(long bytes, long stream) {
        long size = sizeClass(bytes);
        ArrayDeque<Long> free = freeList(stream, size, false);
        long address;
        if (free != null && !free.isEmpty()) {
            address = free.pop();
            cached -= size;
            reuses++;
        } else {
            address = allocator.tryAllocate(size);
            if (address == 0) {
                long cachedBefore = cached;
                releaseCache();
                address = allocator.tryAllocate(size);
                if (address == 0) throw outOfMemory(bytes, size, cachedBefore);
            }
            allocations++;
        }
        inUse += size;
        peakInUse = Math.max(peakInUse, inUse);
        peakReserved = Math.max(peakReserved, inUse + cached);
        return new Block(address, size, stream);
    }

    /** Returns {@code block} to the cache of its stream. */
    synchronized void release(Block block) {
        inUse -= block.bytes();
        cached += block.bytes();
        freeList(block.stream(), block.bytes(), true).push(block.address());
    }

    /** Frees every cached block (the device then holds only what is in use). */
    synchronized void trim() {
        releaseCache();
    }

    synchronized long inUseBytes() {
        return inUse;
    }

    synchronized long cachedBytes() {
        return cached;
    }

    /** The most bytes handed out at once. */
    synchronized long peakInUseBytes() {
        return peakInUse;
    }

    /** The most bytes held from the driver at once (in use + cached): what the device had to have. */
    synchronized long peakReservedBytes() {
        return peakReserved;
    }

    synchronized void resetPeak() {
        peakInUse = inUse;
        peakReserved = inUse + cached;
    }

    /** Driver allocations so far (cache misses). */
    synchronized long allocationCount() {
        return allocations;
    }

    /** Requests served from the cache. */
    synchronized long reuseCount() {
        return reuses;
    }

    /** One line for logs and error messages. */
    synchronized String describe() {
        return "in use " + mib(inUse) + ", cached " + mib(cached) + ", peak in use " + mib(peakInUse)
                + ", peak reserved " + mib(peakReserved);
    }

    private ArrayDeque<Long> freeList(long stream, long size, boolean create) {
        Map<Long, ArrayDeque<Long>> bySize = cacheByStream.get(stream);
        if (bySize == null) {
            if (!create) return null;
            bySize = new HashMap<>();
            cacheByStream.put(stream, bySize);
        }
        return create ? bySize.computeIfAbsent(size, s -> new ArrayDeque<>()) : bySize.get(size);
    }

    private void releaseCache() {
        for (Map<Long, ArrayDeque<Long>> bySize : cacheByStream.values()) {
            for (Map.Entry<Long, ArrayDeque<Long>> e : bySize.entrySet()) {
                for (long address : e.getValue()) {
                    allocator.free(address);
                    cached -= e.getKey();
                }
            }
        }
        cacheByStream.clear();
    }

    private CudaOutOfMemoryException outOfMemory(long bytes, long size, long cachedBefore) {
        long[] device = allocator.freeAndTotal();
        String deviceState = device[0] < 0 ? "device free/total unknown"
                : "device free " + mib(device[0]) + " of " + mib(device[1]);
        return new CudaOutOfMemoryException(bytes, "out of device memory: could not allocate " + bytes + " bytes ("
                + mib(size) + " as a pool block); pool: in use " + mib(inUse) + ", cached " + mib(cached)
                + " (" + mib(cachedBefore) + " returned to the driver before retrying), peak in use " + mib(peakInUse)
                + "; " + deviceState + ". Release tensors or use a smaller batch; the backend remains usable.");
    }

    static String mib(long bytes) {
        return String.format(java.util.Locale.ROOT, "%.1f MiB", bytes / 1048576.0);
    }
}
