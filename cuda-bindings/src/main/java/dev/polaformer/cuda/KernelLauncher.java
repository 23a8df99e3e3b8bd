package dev.polaformer.cuda;

/**
 * Launches one kernel of the {@code polaformer_kernels} module on the backend's stream. {@link CudaKernels}
 * is the only caller: it computes the geometry and passes the arguments in the order of the kernel's C
 * parameters. Keeping the launch behind this interface lets a CPU test record every launch and check it
 * against the {@code .cu} signatures without a GPU.
 */
@FunctionalInterface
public interface KernelLauncher {

    /**
     * Launches {@code kernel} (the {@code extern "C"} name, e.g. {@code pf_gelu}).
     *
     * @param sharedBytes dynamic shared memory per block
     * @param args        the kernel's parameters in order: {@link java.lang.foreign.MemorySegment} for a device
     *                    pointer ({@code MemorySegment.NULL} for a null pointer), {@link Integer} for {@code int},
     *                    {@link Float} for {@code float}, {@link Long} for {@code long long}, {@link Double} for
     *                    {@code double}
     */
    void launch(String kernel, int gridX, int gridY, int gridZ, int blockX, int blockY, int blockZ, int sharedBytes,
                Object... args);
}
