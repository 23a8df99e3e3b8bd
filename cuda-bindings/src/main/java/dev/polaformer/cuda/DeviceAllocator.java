package dev.polaformer.cuda;

/**
 * The raw device allocation calls {@link DeviceMemory} builds its cache on. An interface so the pool's logic
 * (size classes, reuse, accounting, the retry after running out) is tested on machines without a GPU with a
 * fake; {@link CudaBackend} passes one backed by {@code cudaMalloc}/{@code cudaFree}/{@code cudaMemGetInfo}.
 */
interface DeviceAllocator {

    /** The device address of {@code bytes} new bytes, or 0 when the device is out of memory (other errors throw). */
    long tryAllocate(long bytes);

    void free(long address);

    /** What the device reports as free and total, for error messages; {@code {-1, -1}} if it cannot say. */
    long[] freeAndTotal();
}
