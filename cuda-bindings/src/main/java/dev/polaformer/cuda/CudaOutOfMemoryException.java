package dev.polaformer.cuda;

/**
 * The device ran out of memory even after {@link DeviceMemory} returned its cache to the driver. The message
 * states the request and the pool's state so a user can tell a too-large batch from a leak; nothing is left
 * half-allocated, so the backend stays usable (a smaller batch can run next).
 */
public final class CudaOutOfMemoryException extends CudaException {
    private static final long serialVersionUID = 1L;

    private final long requestedBytes;

    CudaOutOfMemoryException(long requestedBytes, String message) {
        // cudaErrorMemoryAllocation (2): the runtime status this stands for.
        super(Api.RUNTIME, 2, "cudaMalloc(" + requestedBytes + " bytes)", message);
        this.requestedBytes = requestedBytes;
    }

    public long requestedBytes() {
        return requestedBytes;
    }
}
