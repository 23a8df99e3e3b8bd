package dev.polaformer.numerics.cpu;

/**
 * Scratch arrays of {@link Sgemm}, one set per thread, kept between calls so that a training step that repeats
 * the same products allocates nothing. The blocking bounds their sizes ({@link Sgemm.Blocking}): at most 8 MiB of
 * packed {@code B} and 16 MiB of double accumulator on a thread that calls {@code gemm} on large matrices, and
 * about 150 KiB of packed {@code A} on a pool worker. The arrays live as long as their thread.
 */
final class SgemmWorkspace {
    private static final ThreadLocal<SgemmWorkspace> LOCAL = ThreadLocal.withInitial(SgemmWorkspace::new);

    /** The register tile's landing place. */
    final float[] tile = new float[SgemmMicroKernel.TILE];
    private float[] packedA = new float[0];
    private float[] packedB = new float[0];
    private double[] accumulator = new double[0];
    private float[] widenedB = new float[0];

    /** One of a thread's ({@link #get}), or of a recording ({@link Parallel#recordingWorkspace}). */
    SgemmWorkspace() {}

    static SgemmWorkspace get() {
        return LOCAL.get();
    }

    float[] packedA(int size) {
        if (packedA.length < size) packedA = new float[size];
        return packedA;
    }

    float[] packedB(int size) {
        if (packedB.length < size) packedB = new float[size];
        return packedB;
    }

    /** One slice of a bfloat16 micro-panel of {@code B}, widened to floats ({@link PackedRight#widen}). */
    float[] widenedB(int size) {
        if (widenedB.length < size) widenedB = new float[size];
        return widenedB;
    }

    double[] accumulator(int size) {
        if (accumulator.length < size) accumulator = new double[size];
        return accumulator;
    }
}
