package dev.polaformer.cuda;

import dev.polaformer.numerics.Storage;

import java.lang.foreign.MemorySegment;

/**
 * Float32 memory on the device, a block of the backend's {@link DeviceMemory} pool. Host access
 * ({@link #read}/{@link #write}, and so {@code Tensor.toArray()}) copies through the pinned staging buffer and
 * waits for the stream, so it sees every op queued before it, as on the CPU.
 */
final class CudaStorage extends Storage {
    private final CudaContext context;
    private final DeviceMemory.Block block;

    CudaStorage(CudaContext context, int size) {
        super(size);
        this.context = context;
        this.block = context.memory.allocate((long) size * Float.BYTES, context.streamId());
    }

    @Override
    public String backendId() {
        return CudaProvider.ID;
    }

    /** The device address of element {@code index}; fails if the storage was released. */
    long address(int index) {
        checkLive("cuda storage of " + size() + " floats");
        return block.address() + (long) index * Float.BYTES;
    }

    MemorySegment pointer(int index) {
        return MemorySegment.ofAddress(address(index));
    }

    @Override
    protected void free() {
        // Safe without a synchronisation: the pool hands the block out again only on the same stream, after
        // every op already queued that reads or writes it.
        context.memory.release(block);
    }

    @Override
    public void read(int offset, float[] dst, int dstOffset, int length) {
        checkRange(offset, length);
        context.download(address(offset), dst, dstOffset, length);
    }

    @Override
    public void write(int offset, float[] src, int srcOffset, int length) {
        checkRange(offset, length);
        context.upload(src, srcOffset, address(offset), length);
    }

    private void checkRange(int offset, int length) {
        if (offset < 0 || length < 0 || (long) offset + length > size()) {
            throw new IndexOutOfBoundsException("[" + offset + ", " + offset + "+" + length + ") of a cuda storage of "
                    + size() + " floats");
        }
    }
}
