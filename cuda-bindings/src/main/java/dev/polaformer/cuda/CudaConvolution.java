package dev.polaformer.cuda;

import dev.polaformer.cuda.bindings.cudnn.Cudnn;
import dev.polaformer.cuda.bindings.cudnn.cudnnConvolutionBwdDataAlgoPerfStruct;
import dev.polaformer.cuda.bindings.cudnn.cudnnConvolutionBwdFilterAlgoPerfStruct;
import dev.polaformer.cuda.bindings.cudnn.cudnnConvolutionFwdAlgoPerfStruct;
import dev.polaformer.numerics.ConvGeometry;
import dev.polaformer.numerics.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static dev.polaformer.cuda.CudaBackend.ptr;
import static dev.polaformer.cuda.CudaException.checkCudnn;

/**
 * Dense convolution with cuDNN on channels-last tensors. cuDNN's NHWC filter layout is {@code (O, kh, kw, I)}, not
 * PyTorch's {@code (O, I, kh, kw)} that the SPI keeps, so each call converts the filter with a kernel (and the
 * filter gradient back, accumulating into {@code dWeight}). The bias is a broadcast add, its gradient a column sum.
 *
 * <p>Algorithms: cuDNN's heuristic ({@code _v7}) ranking, first one that reports success; math is plain fp32
 * ({@code CUDNN_FMA_MATH}) unless TF32 is on. Descriptors are made per call (cheap beside the convolution);
 * the handle is used under a lock, as cuDNN handles are not for concurrent use.
 */
final class CudaConvolution {
    private static final String[] KERNELS = {"pf_filter_oihw_to_ohwi", "pf_filter_ohwi_add_to_oihw",
        "pf_broadcast_add", "pf_reduce_to"};
    private static final int CANDIDATES = 8;

    private final CudaBackend backend;
    private final MemorySegment handle;
    private final boolean tf32;

    CudaConvolution(CudaBackend backend, MemorySegment handle, boolean tf32) {
        this.backend = backend;
        this.handle = handle;
        this.tf32 = tf32;
    }

    /** Whether cuDNN can take this call: live contiguous cuda tensors, non-empty, the conversion kernels loaded. */
    boolean accepts(Tensor x, Tensor weight, Tensor other, Tensor... optional) {
        if (!backend.onDevice(x, weight, other)) return false;
        for (Tensor t : optional) if (t != null && !backend.onDevice(t)) return false;
        return x.size() > 0 && weight.size() > 0 && other.size() > 0 && backend.hasKernels(KERNELS);
    }

    void forward(Tensor x, Tensor weight, Tensor bias, int stride, int padding, Tensor y) {
        ConvGeometry g = ConvGeometry.dense("conv2d", x, weight, bias, stride, padding, y); // the CPU's checks
        CudaKernels k = backend.kernels();
        try (Tensor filter = backend.empty(g.cout(), g.kh(), g.kw(), g.cin());
             Descriptors d = new Descriptors(g)) {
            k.filterOihwToOhwi(ptr(weight), ptr(filter), g.cout(), g.cin(), g.kh(), g.kw());
            synchronized (this) {
                MemorySegment perf = d.arena.allocate(cudnnConvolutionFwdAlgoPerfStruct.layout(), CANDIDATES);
                checkCudnn(Cudnn.cudnnGetConvolutionForwardAlgorithm_v7(handle, d.x, d.w, d.conv, d.y, CANDIDATES,
                        d.count, perf), "cudnnGetConvolutionForwardAlgorithm_v7");
                MemorySegment best = first(perf, d.count, cudnnConvolutionFwdAlgoPerfStruct.layout().byteSize(),
                        "conv2d forward");
                int algo = cudnnConvolutionFwdAlgoPerfStruct.algo(best);
                checkCudnn(Cudnn.cudnnGetConvolutionForwardWorkspaceSize(handle, d.x, d.w, d.conv, d.y, algo, d.size),
                        "cudnnGetConvolutionForwardWorkspaceSize");
                try (Tensor work = workspace(d.size)) {
                    checkCudnn(Cudnn.cudnnConvolutionForward(handle, d.one, d.x, ptr(x), d.w, ptr(filter), d.conv, algo,
                            pointer(work), bytes(d.size), d.zero, d.y, ptr(y)), call("cudnnConvolutionForward", g, algo));
                }
            }
        }
        if (bias != null) k.broadcastAdd(ptr(y), ptr(bias), ptr(y), y.shape(), new int[] {g.cout()});
    }

    void backward(Tensor x, Tensor weight, Tensor dy, int stride, int padding, Tensor dx, Tensor dWeight, Tensor dBias) {
        String op = "conv2dBackward";
        ConvGeometry g = ConvGeometry.dense(op, x, weight, null, stride, padding, dy);
        ConvGeometry.requireGrads(op, x, weight, dx, dWeight, dBias, g.cout());
        CudaKernels k = backend.kernels();
        try (Tensor filter = backend.empty(g.cout(), g.kh(), g.kw(), g.cin());
             Descriptors d = new Descriptors(g)) {
            synchronized (this) {
                if (dx != null) {
                    k.filterOihwToOhwi(ptr(weight), ptr(filter), g.cout(), g.cin(), g.kh(), g.kw());
                    MemorySegment perf = d.arena.allocate(cudnnConvolutionBwdDataAlgoPerfStruct.layout(), CANDIDATES);
                    checkCudnn(Cudnn.cudnnGetConvolutionBackwardDataAlgorithm_v7(handle, d.w, d.y, d.conv, d.x,
                            CANDIDATES, d.count, perf), "cudnnGetConvolutionBackwardDataAlgorithm_v7");
                    int algo = cudnnConvolutionBwdDataAlgoPerfStruct.algo(first(perf, d.count,
                            cudnnConvolutionBwdDataAlgoPerfStruct.layout().byteSize(), "conv2d backward data"));
                    checkCudnn(Cudnn.cudnnGetConvolutionBackwardDataWorkspaceSize(handle, d.w, d.y, d.conv, d.x, algo,
                            d.size), "cudnnGetConvolutionBackwardDataWorkspaceSize");
                    try (Tensor work = workspace(d.size)) {
                        checkCudnn(Cudnn.cudnnConvolutionBackwardData(handle, d.one, d.w, ptr(filter), d.y, ptr(dy),
                                d.conv, algo, pointer(work), bytes(d.size), d.zero, d.x, ptr(dx)),
                                call("cudnnConvolutionBackwardData", g, algo));
                    }
                }
                if (dWeight != null) {
                    MemorySegment perf = d.arena.allocate(cudnnConvolutionBwdFilterAlgoPerfStruct.layout(), CANDIDATES);
                    checkCudnn(Cudnn.cudnnGetConvolutionBackwardFilterAlgorithm_v7(handle, d.x, d.y, d.conv, d.w,
                            CANDIDATES, d.count, perf), "cudnnGetConvolutionBackwardFilterAlgorithm_v7");
                    int algo = cudnnConvolutionBwdFilterAlgoPerfStruct.algo(first(perf, d.count,
                            cudnnConvolutionBwdFilterAlgoPerfStruct.layout().byteSize(), "conv2d backward filter"));
                    checkCudnn(Cudnn.cudnnGetConvolutionBackwardFilterWorkspaceSize(handle, d.x, d.y, d.conv, d.w, algo,
                            d.size), "cudnnGetConvolutionBackwardFilterWorkspaceSize");
                    // Into the OHWI scratch (overwritten), then added to dWeight in PyTorch's layout: accumulation.
                    try (Tensor work = workspace(d.size)) {
                        checkCudnn(Cudnn.cudnnConvolutionBackwardFilter(handle, d.one, d.x, ptr(x), d.y, ptr(dy), d.conv,
                                algo, pointer(work), bytes(d.size), d.zero, d.w, ptr(filter)),
                                call("cudnnConvolutionBackwardFilter", g, algo));
                    }
                    k.filterOhwiAddToOihw(ptr(filter), ptr(dWeight), g.cout(), g.cin(), g.kh(), g.kw());
                }
            }
        }
        if (dBias != null) k.columnSum(ptr(dy), g.b() * g.ho() * g.wo(), g.cout(), ptr(dBias), true);
    }

    /** The best-ranked candidate that cuDNN reports usable. */
    private static MemorySegment first(MemorySegment perf, MemorySegment count, long size, String what) {
        int n = count.get(ValueLayout.JAVA_INT, 0);
        for (int i = 0; i < n; i++) {
            MemorySegment p = perf.asSlice(i * size, size);
            // every perf struct starts with (algo, status): status 0 is CUDNN_STATUS_SUCCESS
            if (cudnnConvolutionFwdAlgoPerfStruct.status(p) == 0) return p;
        }
        throw new CudaException(CudaException.Api.CUDNN, 9, what, what + ": cuDNN offers no usable algorithm among "
                + n + " candidates");
    }

    private Tensor workspace(MemorySegment size) {
        long bytes = bytes(size);
        return bytes == 0 ? null : backend.empty((int) ((bytes + Float.BYTES - 1) / Float.BYTES));
    }

    private static long bytes(MemorySegment size) {
        return size.get(ValueLayout.JAVA_LONG, 0);
    }

    private static MemorySegment pointer(Tensor t) {
        return t == null ? MemorySegment.NULL : ptr(t);
    }

    private static String call(String name, ConvGeometry g, int algo) {
        return name + "(x " + g.b() + "×" + g.h() + "×" + g.w() + "×" + g.cin() + ", " + g.cout() + " filters "
                + g.kh() + "×" + g.kw() + ", stride " + g.stride() + ", padding " + g.padding() + ", algo " + algo + ")";
    }

    /** The descriptors of one call (x, y as NHWC tensors, the OHWI filter, the convolution) and small host cells. */
    private final class Descriptors implements AutoCloseable {
        final Arena arena = Arena.ofConfined();
        final MemorySegment x, y, w, conv;
        final MemorySegment count = arena.allocate(ValueLayout.JAVA_INT), size = arena.allocate(ValueLayout.JAVA_LONG);
        final MemorySegment one = arena.allocateFrom(ValueLayout.JAVA_FLOAT, 1f);
        final MemorySegment zero = arena.allocateFrom(ValueLayout.JAVA_FLOAT, 0f);

        Descriptors(ConvGeometry g) {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            int nhwc = Cudnn.CUDNN_TENSOR_NHWC(), f32 = Cudnn.CUDNN_DATA_FLOAT();
            checkCudnn(Cudnn.cudnnCreateTensorDescriptor(out), "cudnnCreateTensorDescriptor");
            x = out.get(ValueLayout.ADDRESS, 0);
            checkCudnn(Cudnn.cudnnSetTensor4dDescriptor(x, nhwc, f32, g.b(), g.cin(), g.h(), g.w()), "cudnnSetTensor4dDescriptor(x)");
            checkCudnn(Cudnn.cudnnCreateTensorDescriptor(out), "cudnnCreateTensorDescriptor");
            y = out.get(ValueLayout.ADDRESS, 0);
            checkCudnn(Cudnn.cudnnSetTensor4dDescriptor(y, nhwc, f32, g.b(), g.cout(), g.ho(), g.wo()), "cudnnSetTensor4dDescriptor(y)");
            checkCudnn(Cudnn.cudnnCreateFilterDescriptor(out), "cudnnCreateFilterDescriptor");
            w = out.get(ValueLayout.ADDRESS, 0);
            checkCudnn(Cudnn.cudnnSetFilter4dDescriptor(w, f32, nhwc, g.cout(), g.cin(), g.kh(), g.kw()), "cudnnSetFilter4dDescriptor");
            checkCudnn(Cudnn.cudnnCreateConvolutionDescriptor(out), "cudnnCreateConvolutionDescriptor");
            conv = out.get(ValueLayout.ADDRESS, 0);
            checkCudnn(Cudnn.cudnnSetConvolution2dDescriptor(conv, g.padding(), g.padding(), g.stride(), g.stride(), 1, 1,
                    Cudnn.CUDNN_CROSS_CORRELATION(), f32), "cudnnSetConvolution2dDescriptor");
            checkCudnn(Cudnn.cudnnSetConvolutionMathType(conv, tf32 ? Cudnn.CUDNN_TENSOR_OP_MATH() : Cudnn.CUDNN_FMA_MATH()),
                    "cudnnSetConvolutionMathType");
        }

        @Override
        public void close() {
            Cudnn.cudnnDestroyTensorDescriptor(x);
            Cudnn.cudnnDestroyTensorDescriptor(y);
            Cudnn.cudnnDestroyFilterDescriptor(w);
            Cudnn.cudnnDestroyConvolutionDescriptor(conv);
            arena.close();
        }
    }
}
