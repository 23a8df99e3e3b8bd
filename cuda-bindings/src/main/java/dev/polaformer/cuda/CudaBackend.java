package dev.polaformer.cuda;

import dev.polaformer.cuda.bindings.cudnn.Cudnn;
import dev.polaformer.cuda.bindings.driver.CudaDriver;
import dev.polaformer.cuda.bindings.runtime.CudaRuntime;
import dev.polaformer.numerics.Backend;
import dev.polaformer.numerics.ConvGeometry;
import dev.polaformer.numerics.NormGeometry;
import dev.polaformer.numerics.LinearAttention;
import dev.polaformer.numerics.RopeTables;
import dev.polaformer.numerics.Shapes;
import dev.polaformer.numerics.SoftmaxAttention;
import dev.polaformer.numerics.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

import static dev.polaformer.cuda.CudaException.checkCudnn;
import static dev.polaformer.cuda.CudaException.checkDriver;
import static dev.polaformer.cuda.CudaException.checkRuntime;

/**
 * The {@code cuda} backend: tensors live in device memory ({@link CudaStorage} from the {@link DeviceMemory}
 * pool), every op is queued on one stream, and host access synchronises.
 *
 * <p>Where each op runs today: allocation, zeroing and contiguous copies on the device (runtime API);
 * {@link #matmul} with cuBLAS ({@link CudaMatmul}); dense convolution with cuDNN ({@link CudaConvolution}, NHWC,
 * filters converted by a kernel); the attention cores with their fused kernels ({@link CudaLinearAttention},
 * {@link CudaSoftmaxAttention}); strided copies, fill, scale, addScaled, broadcast add/mul,
 * sumTo/mulSumTo, the activations, softmax, rope, LayerNorm, BatchNorm, depthwise convolution, pooling, the
 * loss, the sum of squares and AdamW with the CUDA kernels ({@link CudaKernels} through {@link KernelModule})
 * when their arguments are on the happy path (live contiguous cuda tensors; the shared {@code NormGeometry} /
 * {@code ConvGeometry} checks run first, as on the CPU); everything else, and any argument off that path,
 * through {@link HostFallback}, which runs the {@code cpu} backend's op on host copies. So bad input meets the
 * very checks of the CPU backend, and every op works on a GPU even in a build whose kernels are incomplete.
 * {@code -Dpolaformer.cuda.hostFallback=true} sends every op but matmul to the host (to bisect a kernel fault).
 *
 * <p>Settings: {@code -Dpolaformer.cuda.device=N} (default 0); {@code -Dpolaformer.cuda.tf32=true} allows TF32
 * tensor-core math in cuBLAS and cuDNN (off by default and for the parity tests); {@code -Dpolaformer.cuda.bf16=true}
 * (mixed precision) is not implemented yet and only reported.
 */
public final class CudaBackend implements Backend {
    public static final String DEVICE_PROPERTY = "polaformer.cuda.device";

    private final CudaContext context;
    private final CudaMatmul matmul;
    private final MemorySegment cudnn;
    private final CudaConvolution convolution;
    final HostFallback host = new HostFallback(this);
    private final boolean tf32 = Boolean.getBoolean("polaformer.cuda.tf32");
    private final boolean bf16 = Boolean.getBoolean("polaformer.cuda.bf16");
    private final String deviceLine;
    private final int ccMajor, ccMinor;
    private final boolean hostOnly = Boolean.getBoolean("polaformer.cuda.hostFallback");
    private volatile KernelModule module;
    private volatile CudaKernels kernels;
    /** Why the kernels could not be loaded (then every kernel op runs on the host); null while they load fine. */
    private volatile String kernelProblem;
    private final LinearAttention linearAttention = new CudaLinearAttention(this);
    private final SoftmaxAttention softmaxAttention = new CudaSoftmaxAttention(this);

    public CudaBackend() {
        CudaLibraries.load();
        int device = Integer.getInteger(DEVICE_PROPERTY, 0);
        this.context = new CudaContext(device);
        this.matmul = new CudaMatmul(context, tf32);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            checkCudnn(Cudnn.cudnnCreate(out), "cudnnCreate");
            cudnn = out.get(ValueLayout.ADDRESS, 0);
            checkCudnn(Cudnn.cudnnSetStream(cudnn, context.stream), "cudnnSetStream");
            convolution = new CudaConvolution(this, cudnn, tf32);
            MemorySegment i = arena.allocate(ValueLayout.JAVA_INT);
            checkDriver(CudaDriver.cuDeviceGetAttribute(i, CudaDriver.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR(), device),
                    "cuDeviceGetAttribute(compute capability major)");
            ccMajor = i.get(ValueLayout.JAVA_INT, 0);
            checkDriver(CudaDriver.cuDeviceGetAttribute(i, CudaDriver.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR(), device),
                    "cuDeviceGetAttribute(compute capability minor)");
            ccMinor = i.get(ValueLayout.JAVA_INT, 0);
            MemorySegment name = arena.allocate(256);
            checkDriver(CudaDriver.cuDeviceGetName(name, 256, device), "cuDeviceGetName");
            checkRuntime(CudaRuntime.cudaDriverGetVersion(i), "cudaDriverGetVersion");
            int driver = i.get(ValueLayout.JAVA_INT, 0);
            checkRuntime(CudaRuntime.cudaRuntimeGetVersion(i), "cudaRuntimeGetVersion");
            int runtime = i.get(ValueLayout.JAVA_INT, 0);
            long[] mem = context.memoryInfo();
            deviceLine = "device " + device + " " + name.getString(0) + " (sm_" + ccMajor + ccMinor + ", "
                    + DeviceMemory.mib(mem[1]) + "), driver CUDA " + version(driver) + ", runtime " + version(runtime)
                    + ", cuBLAS " + matmul.version() + ", cuDNN " + Cudnn.cudnnGetVersion();
        }
    }

    private static String version(int v) {
        return v / 1000 + "." + v % 1000 / 10;
    }

    @Override
    public String id() {
        return CudaProvider.ID;
    }

    @Override
    public String describe() {
        KernelModule k = module;
        return deviceLine + ", TF32 " + (tf32 ? "on" : "off") + (bf16 ? ", bf16 requested (not implemented, fp32 used)" : "")
                + ", kernels " + (hostOnly ? "off (host fallback forced)" : k != null ? k.origin()
                : kernelProblem != null ? "unavailable (" + kernelProblem + "), ops on the host" : "not loaded yet")
                + "; pool " + context.memory.describe();
    }

    /** The device kernels, loaded by {@link #onDevice} at first use (the fatbin, or NVRTC's compile of the sources). */
    CudaKernels kernels() {
        context.bind();
        return kernels;
    }

    /** Whether ops can run kernels at all (not host-only, the kernel module loaded): then views are staged. */
    boolean runsKernels() {
        return !hostOnly && kernelsLoaded();
    }

    /**
     * Loads the kernels once. If that fails (no fatbin and no sources in the jar, a compile error), the backend
     * stays usable: the ops run on the host and {@link #describe()} says why, with a warning once.
     */
    private boolean kernelsLoaded() {
        if (kernels != null) return true;
        if (kernelProblem != null) return false;
        synchronized (this) {
            if (kernels != null) return true;
            if (kernelProblem != null) return false;
            try {
                context.bind();
                module = new KernelModule(context, ccMajor, ccMinor);
                kernels = new CudaKernels(module, this::scratch);
                return true;
            } catch (RuntimeException e) {
                kernelProblem = String.valueOf(e.getMessage());
                System.getLogger(CudaBackend.class.getName()).log(System.Logger.Level.WARNING,
                        "cuda: the kernels could not be loaded, their ops run on the host: " + kernelProblem);
                return false;
            }
        }
    }

    /** Temporary device memory for the kernels' reductions, from the pool (released in stream order). */
    private CudaKernels.Scratch scratch(long bytes) {
        Tensor t = empty(Math.toIntExact((bytes + Float.BYTES - 1) / Float.BYTES));
        return new CudaKernels.Scratch(ptr(t), t::close);
    }

    /** Whether the loaded kernels include every one of {@code names} (false while they cannot load). */
    boolean hasKernels(String... names) {
        if (hostOnly || !kernelsLoaded()) return false;
        for (String n : names) if (!module.has(n)) return false;
        return true;
    }

    /** A live cuda tensor whose rows are unit-stride and whose batches lie {@code n} rows apart (a column slice). */
    boolean rowsOnDevice(Tensor t) {
        return t != null && !t.isReleased() && t.storage() instanceof CudaStorage && t.rank() == 3
                && t.stride(2) == 1 && t.stride(0) == t.dim(1) * t.stride(1);
    }

    /**
     * Whether an op can take its kernel path: every tensor given is a live, contiguous cuda tensor. Anything else
     * (views, foreign or released tensors, nulls where the kernel needs memory) goes to the host fallback, whose
     * CPU op either handles it or rejects it with the CPU backend's own message.
     */
    boolean onDevice(Tensor... tensors) {
        if (hostOnly) return false;
        for (Tensor t : tensors) {
            if (t == null || t.isReleased() || !(t.storage() instanceof CudaStorage) || !t.isContiguous()) return false;
        }
        return kernelsLoaded();
    }

    /** {@link #onDevice} for an optional tensor: null is fine. */
    private boolean optional(Tensor t) {
        return t == null || onDevice(t);
    }

    private static MemorySegment ptrOrNull(Tensor t) {
        return t == null ? MemorySegment.NULL : ptr(t);
    }

    /** Live cuda tensors of the same shape, rank ≤ 4 (the strided copy kernel's limit), any strides. */
    private boolean copyOnDevice(Tensor src, Tensor dst) {
        if (hostOnly || src == null || dst == null || src.isReleased() || dst.isReleased()) return false;
        if (!(src.storage() instanceof CudaStorage) || !(dst.storage() instanceof CudaStorage)) return false;
        return src.sameShape(dst) && src.rank() >= 1 && src.rank() <= 4 && src.size() > 0 && kernelsLoaded();
    }

    private static boolean same(Tensor a, Tensor b) {
        return a.sameShape(b);
    }

    static MemorySegment ptr(Tensor t) {
        return ((CudaStorage) t.storage()).pointer(t.offset());
    }

    /** The pool's accounting, for benchmarks: bytes in use, cached, peak in use, peak reserved. */
    public long[] memoryStatistics() {
        DeviceMemory m = context.memory;
        return new long[] {m.inUseBytes(), m.cachedBytes(), m.peakInUseBytes(), m.peakReservedBytes()};
    }

    public void resetPeakMemory() {
        context.memory.resetPeak();
    }

    @Override
    public void synchronize() {
        context.bind();
        context.synchronize();
    }

    /** The device storage of {@code t}, failing with the op's name if it lives elsewhere or was released. */
    static CudaStorage storageOf(String op, Tensor t) {
        Shapes.requireNonNull(op, "tensor", t);
        if (t.isReleased()) throw new IllegalStateException(op + ": " + t + " used after its memory was released");
        if (!(t.storage() instanceof CudaStorage s)) {
            throw new IllegalArgumentException(op + ": " + t + " lives on '" + t.backendId() + "', not on '"
                    + CudaProvider.ID + "'; copy it across first");
        }
        return s;
    }

    // ================================================================ memory

    @Override
    public Tensor zeros(int... shape) {
        Tensor t = empty(shape);
        CudaStorage s = (CudaStorage) t.storage();
        if (s.size() > 0) context.zero(s.address(0), (long) s.size() * Float.BYTES);
        return t;
    }

    @Override
    public Tensor empty(int... shape) {
        int n = (int) Shapes.checkedSize(shape);
        context.bind();
        return Tensor.owning(new CudaStorage(context, n), shape);
    }

    @Override
    public Tensor fromArray(float[] values, int... shape) {
        if (Shapes.checkedSize(shape) != values.length) {
            throw new IllegalArgumentException("fromArray: " + values.length + " values do not fill shape "
                    + Arrays.toString(shape));
        }
        Tensor t = empty(shape);
        t.storage().write(0, values, 0, values.length);
        return t;
    }

    @Override
    public void copy(Tensor src, Tensor dst) {
        CudaStorage s = storageOf("copy", src), d = storageOf("copy", dst);
        if (src.sameShape(dst) && src.isContiguous() && dst.isContiguous()) {
            if (src.size() == 0) return;
            context.bind();
            context.copyDevice(s.address(src.offset()), d.address(dst.offset()), (long) src.size() * Float.BYTES);
            return;
        }
        if (copyOnDevice(src, dst)) {
            kernels().copyStrided(ptr(src), src.strides(), ptr(dst), dst.strides(), src.shape());
            return;
        }
        host.run("copy", c -> c.backend().copy(c.in(src), c.out(dst)));
    }

    @Override
    public void fill(Tensor dst, float value) {
        CudaStorage d = storageOf("fill", dst);
        if (Float.floatToRawIntBits(value) == 0 && dst.isContiguous()) {
            if (dst.size() == 0) return;
            context.bind();
            context.zero(d.address(dst.offset()), (long) dst.size() * Float.BYTES);
            return;
        }
        if (onDevice(dst)) {
            kernels().fill(ptr(dst), dst.size(), value);
            return;
        }
        host.run("fill", c -> c.backend().fill(c.out(dst), value));
    }

    @Override
    public void trim() {
        context.bind();
        context.synchronize();
        context.memory.trim();
    }

    // ================================================================ matrix multiply

    @Override
    public void matmul(Tensor a, boolean transA, Tensor b, boolean transB, Tensor c, float alpha, float beta) {
        matmul.matmul(a, transA, b, transB, c, alpha, beta);
    }

    // ================================================================ convolution

    /**
     * A 1×1 convolution with stride 1 and no padding on contiguous NHWC tensors is a GEMM over the pixels
     * (the head's projection, the classifier): cuBLAS takes it, without a cuDNN plan or a filter conversion.
     */
    private static boolean pointwiseConvolution(Tensor x, Tensor weight, int stride, int padding, Tensor y) {
        if (stride != 1 || padding != 0 || x.rank() != 4 || weight.rank() != 4 || y.rank() != 4) return false;
        int[] xs = x.shape(), ws = weight.shape(), ys = y.shape();
        return ws[2] == 1 && ws[3] == 1 && xs[3] == ws[1] && ys[0] == xs[0] && ys[1] == xs[1] && ys[2] == xs[2]
                && ys[3] == ws[0] && x.size() > 0 && x.isContiguous() && weight.isContiguous() && y.isContiguous();
    }

    @Override
    public void conv2d(Tensor x, Tensor weight, Tensor bias, int stride, int padding, Tensor y) {
        if (pointwiseConvolution(x, weight, stride, padding, y)) {
            int pixels = x.size() / x.shape()[3];
            linear(x.reshape(pixels, x.shape()[3]), weight.reshape(weight.shape()[0], weight.shape()[1]), bias,
                    y.reshape(pixels, weight.shape()[0]));
            return;
        }
        if (convolution.accepts(x, weight, y, bias)) {
            convolution.forward(x, weight, bias, stride, padding, y);
            return;
        }
        host.run("conv2d", c -> c.backend().conv2d(c.in(x), c.in(weight), c.in(bias), stride, padding, c.out(y)));
    }

    @Override
    public void conv2dBackward(Tensor x, Tensor weight, Tensor dy, int stride, int padding,
                               Tensor dx, Tensor dWeight, Tensor dBias) {
        if (pointwiseConvolution(x, weight, stride, padding, dy) && (dx == null || dx.sameShape(x))
                && (dWeight == null || dWeight.sameShape(weight))
                && (dBias == null || dBias.rank() == 1 && dBias.shape()[0] == weight.shape()[0])) {
            int pixels = x.size() / x.shape()[3], cin = x.shape()[3], cout = weight.shape()[0];
            Tensor dy2 = dy.reshape(pixels, cout);
            if (dx != null) matmul(dy2, false, weight.reshape(cout, cin), false, dx.reshape(pixels, cin), 1f, 0f);
            if (dWeight != null) matmul(dy2, true, x.reshape(pixels, cin), false, dWeight.reshape(cout, cin), 1f, 1f);
            if (dBias != null) sumTo(dy2, dBias.reshape(1, cout), true);
            return;
        }
        if (convolution.accepts(x, weight, dy, dx, dWeight, dBias)) {
            convolution.backward(x, weight, dy, stride, padding, dx, dWeight, dBias);
            return;
        }
        host.run("conv2dBackward", c -> c.backend().conv2dBackward(c.in(x), c.in(weight), c.in(dy), stride, padding,
                c.out(dx), c.out(dWeight), c.out(dBias)));
    }

    @Override
    public void depthwiseConv2d(Tensor x, Tensor weight, Tensor bias, int padding, Tensor y) {
        if (onDevice(x, weight, y) && optional(bias)) {
            ConvGeometry g = ConvGeometry.depthwise("depthwiseConv2d", x, weight, bias, padding, y); // the CPU's checks
            if (g.cin() > 0 && y.size() > 0) {
                kernels().depthwiseForward(ptr(x), ptr(weight), ptrOrNull(bias), ptr(y), g.b(), g.h(), g.w(), g.cin(),
                        g.kh(), padding);
                return;
            }
        }
        host.run("depthwiseConv2d", c -> c.backend().depthwiseConv2d(c.in(x), c.in(weight), c.in(bias), padding, c.out(y)));
    }

    @Override
    public void depthwiseConv2dBackward(Tensor x, Tensor weight, Tensor dy, int padding,
                                        Tensor dx, Tensor dWeight, Tensor dBias) {
        if (onDevice(x, weight, dy) && optional(dx) && optional(dWeight) && optional(dBias)) {
            String op = "depthwiseConv2dBackward";
            ConvGeometry g = ConvGeometry.depthwise(op, x, weight, null, padding, dy);
            ConvGeometry.requireGrads(op, x, weight, dx, dWeight, dBias, g.cout());
            int pixels = g.b() * g.ho() * g.wo();
            if (g.cin() > 0 && pixels > 0) {
                CudaKernels k = kernels();
                if (dx != null) k.depthwiseBackwardInput(ptr(dy), ptr(weight), ptr(dx), g.b(), g.h(), g.w(), g.cin(), g.kh(), padding);
                if (dWeight != null) {
                    k.depthwiseBackwardWeight(ptr(x), ptr(dy), ptr(dWeight), g.b(), g.h(), g.w(), g.cin(), g.kh(),
                            padding);
                }
                if (dBias != null) k.columnSum(ptr(dy), pixels, g.cin(), ptr(dBias), true);
                return;
            }
        }
        host.run("depthwiseConv2dBackward", c -> c.backend().depthwiseConv2dBackward(c.in(x), c.in(weight), c.in(dy),
                padding, c.out(dx), c.out(dWeight), c.out(dBias)));
    }

    // ================================================================ normalisation

    @Override
    public void layerNorm(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor y, Tensor mean, Tensor rstd) {
        if (onDevice(x, gamma, beta, y) && optional(mean) && optional(rstd)) {
            NormGeometry g = NormGeometry.rows("layerNorm", x, gamma, beta, y, mean, rstd); // the CPU's checks
            if (g.channels() > 0) {
                kernels().layerNorm(ptr(x), ptr(gamma), ptr(beta), ptr(y), ptrOrNull(mean), ptrOrNull(rstd), g.rows(),
                        g.channels(), eps);
                return;
            }
        }
        host.run("layerNorm", c -> c.backend().layerNorm(c.in(x), c.in(gamma), c.in(beta), eps, c.out(y), c.out(mean),
                c.out(rstd)));
    }

    @Override
    public void layerNormBackward(Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dy,
                                  Tensor dx, Tensor dGamma, Tensor dBeta) {
        if (onDevice(x, gamma, mean, rstd, dy) && optional(dx) && optional(dGamma) && optional(dBeta)) {
            String op = "layerNormBackward";
            NormGeometry g = NormGeometry.rows(op, x, gamma, null, dy, mean, rstd);
            NormGeometry.requireGrads(op, x, gamma, dx, dGamma, dBeta);
            if (g.channels() > 0) {
                int rows = g.rows(), ch = g.channels();
                if (dx != null) kernels().layerNormBackward(ptr(x), ptr(gamma), ptr(mean), ptr(rstd), ptr(dy), ptr(dx), rows, ch);
                if (dGamma != null || dBeta != null) {
                    kernels().layerNormParamGrads(ptr(x), ptr(mean), ptr(rstd), ptr(dy), ptrOrNull(dGamma),
                            ptrOrNull(dBeta), rows, ch);
                }
                return;
            }
        }
        host.run("layerNormBackward", c -> c.backend().layerNormBackward(c.in(x), c.in(gamma), c.in(mean), c.in(rstd),
                c.in(dy), c.out(dx), c.out(dGamma), c.out(dBeta)));
    }

    @Override
    public void batchNormTrain(Tensor x, Tensor gamma, Tensor beta, float eps, float momentum, Tensor y,
                               Tensor mean, Tensor rstd, Tensor runningMean, Tensor runningVar) {
        if (onDevice(x, gamma, beta, y, mean, rstd) && (runningMean == null) == (runningVar == null)
                && optional(runningMean) && optional(runningVar)) {
            NormGeometry g = NormGeometry.columns("batchNormTrain", x, gamma, beta, y, mean, rstd, runningMean, runningVar);
            if (g.rows() > 0 && g.channels() > 0) {
                // The apply takes the mean as hi + lo floats (and rstd·gamma) from the statistics, as the CPU backend.
                try (Tensor affine = empty(3 * g.channels())) {
                    kernels().columnStats(ptr(x), ptr(gamma), ptr(mean), ptr(rstd), ptrOrNull(runningMean),
                            ptrOrNull(runningVar), ptr(affine), g.rows(), g.channels(), eps, momentum);
                    kernels().batchNormApply(ptr(x), ptr(affine), ptr(beta), ptr(y), g.rows(), g.channels());
                }
                return;
            }
        }
        host.run("batchNormTrain", c -> c.backend().batchNormTrain(c.in(x), c.in(gamma), c.in(beta), eps, momentum,
                c.out(y), c.out(mean), c.out(rstd), c.out(runningMean), c.out(runningVar)));
    }

    @Override
    public void batchNormEval(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar, float eps,
                              Tensor y) {
        if (onDevice(x, gamma, beta, runningMean, runningVar, y)) {
            NormGeometry g = NormGeometry.columns("batchNormEval", x, gamma, beta, y, null, null, runningMean, runningVar);
            if (g.channels() > 0) {
                kernels().batchNormApply(ptr(x), ptr(runningMean), ptr(runningVar), ptr(gamma), ptr(beta), ptr(y),
                        g.rows(), g.channels(), eps, true);
                return;
            }
        }
        host.run("batchNormEval", c -> c.backend().batchNormEval(c.in(x), c.in(gamma), c.in(beta), c.in(runningMean),
                c.in(runningVar), eps, c.out(y)));
    }

    @Override
    public void batchNormBackward(Tensor x, Tensor gamma, Tensor mean, Tensor rstd, boolean batchStatistics,
                                  Tensor dy, Tensor dx, Tensor dGamma, Tensor dBeta) {
        if (onDevice(x, gamma, mean, rstd, dy) && optional(dx) && optional(dGamma) && optional(dBeta)) {
            String op = "batchNormBackward";
            NormGeometry g = NormGeometry.columns(op, x, gamma, null, dy, mean, rstd, null, null);
            NormGeometry.requireGrads(op, x, gamma, dx, dGamma, dBeta);
            if (g.rows() > 0 && g.channels() > 0) {
                kernels().batchNormBackward(ptr(x), ptr(gamma), ptr(mean), ptr(rstd), ptr(dy), ptrOrNull(dx),
                        ptrOrNull(dGamma), ptrOrNull(dBeta), g.rows(), g.channels(), batchStatistics);
                return;
            }
        }
        host.run("batchNormBackward", c -> c.backend().batchNormBackward(c.in(x), c.in(gamma), c.in(mean), c.in(rstd),
                batchStatistics, c.in(dy), c.out(dx), c.out(dGamma), c.out(dBeta)));
    }

    // ================================================================ activations

    @Override
    public void gelu(Tensor x, Tensor y) {
        if (onDevice(x, y) && same(x, y)) {
            kernels().gelu(ptr(x), ptr(y), x.size());
            return;
        }
        host.run("gelu", c -> c.backend().gelu(c.in(x), c.out(y)));
    }

    @Override
    public void geluBackward(Tensor x, Tensor dy, Tensor dx) {
        if (onDevice(x, dy, dx) && same(x, dy) && same(x, dx)) {
            kernels().geluBackward(ptr(x), ptr(dy), ptr(dx), x.size());
            return;
        }
        host.run("geluBackward", c -> c.backend().geluBackward(c.in(x), c.in(dy), c.out(dx)));
    }

    @Override
    public void silu(Tensor x, Tensor y) {
        if (onDevice(x, y) && same(x, y)) {
            kernels().silu(ptr(x), ptr(y), x.size());
            return;
        }
        host.run("silu", c -> c.backend().silu(c.in(x), c.out(y)));
    }

    @Override
    public void siluBackward(Tensor x, Tensor dy, Tensor dx) {
        if (onDevice(x, dy, dx) && same(x, dy) && same(x, dx)) {
            kernels().siluBackward(ptr(x), ptr(dy), ptr(dx), x.size());
            return;
        }
        host.run("siluBackward", c -> c.backend().siluBackward(c.in(x), c.in(dy), c.out(dx)));
    }

    @Override
    public void softmax(Tensor x, Tensor y) {
        if (onDevice(x, y) && same(x, y) && x.rank() >= 1 && x.dim(-1) > 0) {
            kernels().softmaxRows(ptr(x), ptr(y), x.size() / x.dim(-1), x.dim(-1));
            return;
        }
        host.run("softmax", c -> c.backend().softmax(c.in(x), c.out(y)));
    }

    @Override
    public void softmaxBackward(Tensor y, Tensor dy, Tensor dx) {
        if (onDevice(y, dy, dx) && same(y, dy) && same(y, dx) && y.rank() >= 1 && y.dim(-1) > 0) {
            kernels().softmaxBackwardRows(ptr(y), ptr(dy), ptr(dx), y.size() / y.dim(-1), y.dim(-1));
            return;
        }
        host.run("softmaxBackward", c -> c.backend().softmaxBackward(c.in(y), c.in(dy), c.out(dx)));
    }

    @Override
    public void rope(Tensor x, RopeTables rope, Tensor y) {
        if (ropeOnDevice(x, rope, y)) {
            kernels().rope(ptr(x), ptr(y), ptr(rope.sin()), ptr(rope.cos()), x.dim(0), x.dim(1), x.dim(2), rope.sin().dim(1));
            return;
        }
        host.run("rope", c -> c.backend().rope(c.in(x), c.in(rope), c.out(y)));
    }

    @Override
    public void ropeBackward(Tensor dy, RopeTables rope, Tensor dx) {
        if (ropeOnDevice(dy, rope, dx)) {
            kernels().ropeBackward(ptr(dy), ptr(dx), ptr(rope.sin()), ptr(rope.cos()), dy.dim(0), dy.dim(1), dy.dim(2), rope.sin().dim(1));
            return;
        }
        host.run("ropeBackward", c -> c.backend().ropeBackward(c.in(dy), c.in(rope), c.out(dx)));
    }

    // ================================================================ elementwise and reductions

    @Override
    public void add(Tensor a, Tensor b, Tensor out) {
        if (onDevice(a, b, out) && same(a, out) && a.rank() <= 4 && b.rank() <= a.rank()
                && Shapes.broadcasts(b.shape(), a.shape())) {
            kernels().broadcastAdd(ptr(a), ptr(b), ptr(out), a.shape(), b.shape());
            return;
        }
        host.run("add", c -> c.backend().add(c.in(a), c.in(b), c.out(out)));
    }

    @Override
    public void mul(Tensor a, Tensor b, Tensor out) {
        if (onDevice(a, b, out) && same(a, out) && a.rank() <= 4 && b.rank() <= a.rank()
                && Shapes.broadcasts(b.shape(), a.shape())) {
            kernels().broadcastMul(ptr(a), ptr(b), ptr(out), a.shape(), b.shape());
            return;
        }
        host.run("mul", c -> c.backend().mul(c.in(a), c.in(b), c.out(out)));
    }

    @Override
    public void scale(Tensor x, float alpha, Tensor y) {
        if (onDevice(x, y) && same(x, y)) {
            kernels().scale(ptr(x), ptr(y), x.size(), alpha);
            return;
        }
        host.run("scale", c -> c.backend().scale(c.in(x), alpha, c.out(y)));
    }

    @Override
    public void addScaled(Tensor x, float alpha, Tensor y) {
        if (onDevice(x, y) && same(x, y)) {
            kernels().addScaled(ptr(x), ptr(y), x.size(), alpha);
            return;
        }
        host.run("addScaled", c -> c.backend().addScaled(c.in(x), alpha, c.out(y)));
    }

    @Override
    public void sumTo(Tensor x, Tensor out, boolean accumulate) {
        if (onDevice(x, out) && x.rank() <= 4 && out.rank() <= x.rank() && Shapes.broadcasts(out.shape(), x.shape())) {
            kernels().reduceTo(ptr(x), MemorySegment.NULL, ptr(out), x.shape(), out.shape(), accumulate);
            return;
        }
        host.run("sumTo", c -> c.backend().sumTo(c.in(x), c.out(out), accumulate));
    }

    @Override
    public void mulSumTo(Tensor a, Tensor b, Tensor out, boolean accumulate) {
        if (onDevice(a, b, out) && same(a, b) && a.rank() <= 4 && out.rank() <= a.rank()
                && Shapes.broadcasts(out.shape(), a.shape())) {
            kernels().reduceTo(ptr(a), ptr(b), ptr(out), a.shape(), out.shape(), accumulate);
            return;
        }
        host.run("mulSumTo", c -> c.backend().mulSumTo(c.in(a), c.in(b), c.out(out), accumulate));
    }

    @Override
    public void avgPool(Tensor x, Tensor y) {
        if (onDevice(x, y) && x.rank() == 4 && y.rank() == 2 && y.dim(0) == x.dim(0) && y.dim(1) == x.dim(3) && x.dim(1) * x.dim(2) > 0) {
            kernels().avgPool(ptr(x), ptr(y), x.dim(0), x.dim(1) * x.dim(2), x.dim(3));
            return;
        }
        host.run("avgPool", c -> c.backend().avgPool(c.in(x), c.out(y)));
    }

    @Override
    public void avgPoolBackward(Tensor dy, Tensor dx) {
        if (onDevice(dy, dx) && dx.rank() == 4 && dy.rank() == 2 && dy.dim(0) == dx.dim(0) && dy.dim(1) == dx.dim(3) && dx.dim(1) * dx.dim(2) > 0) {
            kernels().avgPoolBackward(ptr(dy), ptr(dx), dx.dim(0), dx.dim(1) * dx.dim(2), dx.dim(3));
            return;
        }
        host.run("avgPoolBackward", c -> c.backend().avgPoolBackward(c.in(dy), c.out(dx)));
    }

    @Override
    public double crossEntropy(Tensor logits, Tensor targets, Tensor dLogits) {
        if (onDevice(logits, targets) && (dLogits == null || onDevice(dLogits) && same(logits, dLogits))
                && logits.rank() == 2 && same(logits, targets) && logits.dim(0) > 0) {
            int b = logits.dim(0);
            double[] rows = doubles(b, (out) -> kernels().crossEntropy(ptr(logits), ptr(targets),
                    dLogits == null ? MemorySegment.NULL : ptr(dLogits), out, b, logits.dim(1)));
            double sum = 0;
            for (double r : rows) sum += r;
            // Non-finite input: let the CPU op find the element and throw its exception, naming it.
            if (Double.isFinite(sum)) return sum / b;
        }
        return host.compute("crossEntropy", c -> c.backend().crossEntropy(c.in(logits), c.in(targets), c.out(dLogits)));
    }

    @Override
    public double sumOfSquares(Tensor x) {
        if (onDevice(x) && x.size() > 0) {
            int n = x.size();
            double[] partials = doubles(CudaKernels.sumOfSquaresPartials(n), out -> kernels().sumOfSquares(ptr(x), out, n));
            double sum = 0;
            for (double p : partials) sum += p; // in order: deterministic
            return sum;
        }
        return host.compute("sumOfSquares", c -> c.backend().sumOfSquares(c.in(x)));
    }

    /** Runs {@code kernel} with a device buffer of {@code count} doubles and returns them (synchronises). */
    private double[] doubles(int count, java.util.function.Consumer<MemorySegment> kernel) {
        try (Tensor buffer = empty(2 * count)) {
            kernel.accept(ptr(buffer));
            float[] raw = buffer.toArray();
            double[] out = new double[count];
            for (int i = 0; i < count; i++) {  // little-endian: the low word is the first float
                long lo = Float.floatToRawIntBits(raw[2 * i]) & 0xffffffffL, hi = Float.floatToRawIntBits(raw[2 * i + 1]);
                out[i] = Double.longBitsToDouble(hi << 32 | lo);
            }
            return out;
        }
    }

    /** rope's kernel path: contiguous (B, N, C) in and out, tables (N, width) with an even width dividing C. */
    private boolean ropeOnDevice(Tensor x, RopeTables rope, Tensor y) {
        if (rope == null || !onDevice(x, y, rope.sin(), rope.cos()) || x.rank() != 3 || !same(x, y)) return false;
        int width = rope.sin().dim(1);
        return rope.sin().rank() == 2 && same(rope.sin(), rope.cos()) && rope.sin().dim(0) == x.dim(1)
                && width > 0 && width % 2 == 0 && x.dim(2) % width == 0;
    }

    // ================================================================ optimiser

    @Override
    public void adamW(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps,
                      float weightDecay, long step) {
        if (onDevice(param, grad, m, v) && same(param, grad) && same(param, m) && same(param, v) && step >= 1) {
            kernels().adamW(ptr(param), ptr(grad), ptr(m), ptr(v), param.size(), lr, beta1, beta2, eps, weightDecay, step);
            return;
        }
        host.run("adamW", c -> c.backend().adamW(c.out(param), c.in(grad), c.out(m), c.out(v), lr, beta1, beta2, eps,
                weightDecay, step));
    }

    // ================================================================ attention

    @Override
    public LinearAttention linearAttention() {
        return linearAttention;
    }

    @Override
    public SoftmaxAttention softmaxAttention() {
        return softmaxAttention;
    }
}
