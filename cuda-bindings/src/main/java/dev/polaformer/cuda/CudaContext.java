package dev.polaformer.cuda;

import dev.polaformer.cuda.bindings.driver.CudaDriver;
import dev.polaformer.cuda.bindings.runtime.CudaRuntime;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static dev.polaformer.cuda.CudaException.checkDriver;
import static dev.polaformer.cuda.CudaException.checkRuntime;

/**
 * One device as the backend uses it: the device number, its primary context, the one stream every copy, launch,
 * cuBLAS and cuDNN call goes to, the memory pool, and the pinned staging buffer for host transfers.
 *
 * <p>Threads: the runtime API keeps "the current device" per thread and the driver API "the current context"
 * per thread, so every entry point calls {@link #bind()} first; it costs a thread-local read after the first
 * call on a thread.
 */
final class CudaContext implements AutoCloseable {
    /** Staging chunk: large enough that a transfer runs near PCIe speed, small enough to pin once and keep. */
    private static final long STAGING_BYTES = 16L << 20;

    final int device;
    final MemorySegment stream;
    final DeviceMemory memory;
    private final MemorySegment primaryContext;
    private final MemorySegment staging;
    private final ThreadLocal<Boolean> bound = ThreadLocal.withInitial(() -> false);

    @SuppressWarnings("restricted")
    CudaContext(int device) {
        this.device = device;
        checkDriver(CudaDriver.cuInit(0), "cuInit");
        checkRuntime(CudaRuntime.cudaSetDevice(device), "cudaSetDevice(" + device + ")");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            checkDriver(CudaDriver.cuDevicePrimaryCtxRetain(out, device), "cuDevicePrimaryCtxRetain(" + device + ")");
            primaryContext = out.get(ValueLayout.ADDRESS, 0);
            checkDriver(CudaDriver.cuCtxSetCurrent(primaryContext), "cuCtxSetCurrent");
            bound.set(true);
            // Non-blocking: the legacy default stream must not serialise with ours.
            checkRuntime(CudaRuntime.cudaStreamCreateWithFlags(out, CudaRuntime.cudaStreamNonBlocking()),
                    "cudaStreamCreateWithFlags");
            stream = out.get(ValueLayout.ADDRESS, 0);
            checkRuntime(CudaRuntime.cudaMallocHost(out, STAGING_BYTES), "cudaMallocHost(" + STAGING_BYTES + " bytes)");
            staging = out.get(ValueLayout.ADDRESS, 0).reinterpret(STAGING_BYTES);
        }
        memory = new DeviceMemory(new RuntimeAllocator());
    }

    /** Makes this device and context current on the calling thread. */
    void bind() {
        if (bound.get()) return;
        checkRuntime(CudaRuntime.cudaSetDevice(device), "cudaSetDevice(" + device + ")");
        checkDriver(CudaDriver.cuCtxSetCurrent(primaryContext), "cuCtxSetCurrent");
        bound.set(true);
    }

    long streamId() {
        return stream.address();
    }

    void synchronize() {
        checkRuntime(CudaRuntime.cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    }

    /** Copies {@code length} floats from device address {@code src} to {@code dst}, through the pinned buffer. */
    void download(long src, float[] dst, int dstOffset, int length) {
        bind();
        long chunk = STAGING_BYTES / Float.BYTES;
        synchronized (staging) {
            for (long done = 0; done < length; ) {
                int n = (int) Math.min(chunk, length - done);
                checkRuntime(CudaRuntime.cudaMemcpyAsync(staging, MemorySegment.ofAddress(src + done * Float.BYTES),
                        (long) n * Float.BYTES, CudaRuntime.cudaMemcpyDeviceToHost(), stream),
                        "cudaMemcpyAsync(device to host, " + (long) n * Float.BYTES + " bytes)");
                synchronize();
                MemorySegment.copy(staging, ValueLayout.JAVA_FLOAT, 0, dst, dstOffset + (int) done, n);
                done += n;
            }
        }
    }

    /** Copies {@code length} floats from {@code src} to device address {@code dst}, through the pinned buffer. */
    void upload(float[] src, int srcOffset, long dst, int length) {
        bind();
        long chunk = STAGING_BYTES / Float.BYTES;
        synchronized (staging) {
            for (long done = 0; done < length; ) {
                int n = (int) Math.min(chunk, length - done);
                MemorySegment.copy(src, srcOffset + (int) done, staging, ValueLayout.JAVA_FLOAT, 0, n);
                checkRuntime(CudaRuntime.cudaMemcpyAsync(MemorySegment.ofAddress(dst + done * Float.BYTES), staging,
                        (long) n * Float.BYTES, CudaRuntime.cudaMemcpyHostToDevice(), stream),
                        "cudaMemcpyAsync(host to device, " + (long) n * Float.BYTES + " bytes)");
                // The staging buffer is reused by the next chunk: the copy must have left it first.
                synchronize();
                done += n;
            }
        }
    }

    /** Device-to-device copy on the stream (asynchronous). */
    void copyDevice(long src, long dst, long bytes) {
        checkRuntime(CudaRuntime.cudaMemcpyAsync(MemorySegment.ofAddress(dst), MemorySegment.ofAddress(src), bytes,
                CudaRuntime.cudaMemcpyDeviceToDevice(), stream), "cudaMemcpyAsync(device to device, " + bytes + " bytes)");
    }

    /** Sets {@code bytes} bytes at {@code dst} to zero on the stream. */
    void zero(long dst, long bytes) {
        checkRuntime(CudaRuntime.cudaMemsetAsync(MemorySegment.ofAddress(dst), 0, bytes, stream),
                "cudaMemsetAsync(" + bytes + " bytes)");
    }

    /** Device free and total bytes as the runtime reports them. */
    long[] memoryInfo() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment free = arena.allocate(ValueLayout.JAVA_LONG), total = arena.allocate(ValueLayout.JAVA_LONG);
            if (CudaRuntime.cudaMemGetInfo(free, total) != 0) return new long[] {-1, -1};
            return new long[] {free.get(ValueLayout.JAVA_LONG, 0), total.get(ValueLayout.JAVA_LONG, 0)};
        }
    }

    @Override
    public void close() {
        bind();
        synchronize();
        memory.trim();
        CudaRuntime.cudaFreeHost(staging);
        CudaRuntime.cudaStreamDestroy(stream);
    }

    /** cudaMalloc/cudaFree for the pool; out of memory is reported as 0 so the pool can free its cache and retry. */
    private final class RuntimeAllocator implements DeviceAllocator {
        @Override
        public long tryAllocate(long bytes) {
            bind();
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
                int status = CudaRuntime.cudaMalloc(out, bytes);
                if (CudaException.isOutOfMemory(CudaException.Api.RUNTIME, status)) {
                    CudaRuntime.cudaGetLastError(); // clear the sticky-until-read error so later checks are clean
                    return 0;
                }
                checkRuntime(status, "cudaMalloc(" + bytes + " bytes)");
                return out.get(ValueLayout.ADDRESS, 0).address();
            }
        }

        @Override
        public void free(long address) {
            bind();
            checkRuntime(CudaRuntime.cudaFree(MemorySegment.ofAddress(address)), "cudaFree");
        }

        @Override
        public long[] freeAndTotal() {
            return memoryInfo();
        }
    }
}
