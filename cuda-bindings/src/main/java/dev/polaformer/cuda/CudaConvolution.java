package dev.polaformer.cuda;

import dev.polaformer.cuda.bindings.cudnn.Cudnn;
import dev.polaformer.cuda.bindings.cudnn.cudnnConvolutionBwdDataAlgoPerfStruct;
import dev.polaformer.cuda.bindings.cudnn.cudnnConvolutionBwdFilterAlgoPerfStruct;
import dev.polaformer.cuda.bindings.cudnn.cudnnConvolutionFwdAlgoPerfStruct;
import dev.polaformer.numerics.ConvGeometry;
import dev.polaformer.numerics.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.LinkedHashMap;
import java.util.Map;

import static dev.polaformer.cuda.CudaBackend.ptr;
import static dev.polaformer.cuda.CudaException.checkCudnn;

/**
 * Dense convolution with cuDNN on channels-last tensors. cuDNN's NHWC filter layout is {@code (O, kh, kw, I)}, not
 * PyTorch's {@code (O, I, kh, kw)} that the SPI keeps, so each call converts the filter with a kernel (and the
 * filter gradient back, accumulating into {@code dWeight}). The bias is a broadcast add, its gradient a column sum.
 *
 * <p>Algorithms: cuDNN's heuristic ({@code _v7}) ranking, first one that reports success; math is plain fp32
 * ({@code CUDNN_FMA_MATH}) unless TF32 is on. Descriptors and algorithm choices are made once per geometry
 * ({@link Plan}); the handle is used under a lock, as cuDNN handles are not for concurrent use.
 */
final class CudaConvolution {
    private static final String[] KERNELS = {"pf_filter_oihw_to_ohwi", "pf_filter_ohwi_add_to_oihw",
        "pf_broadcast_add", "pf_reduce_to"};
    private static final int CANDIDATES = 8;
    /** Geometries kept: a model has about ten per batch size and image size. */
    private static final int PLANS = 128;

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
        try (Tensor filter = backend.empty(g.cout(), g.kh(), g.kw(), g.cin())) {
            k.filterOihwToOhwi(ptr(weight), ptr(filter), g.cout(), g.cin(), g.kh(), g.kw());
            synchronized (this) {
                Plan p = plan(g);
                if (p.forward == null) {
                    p.forward = choose(p, cudnnConvolutionFwdAlgoPerfStruct.layout(), "conv2d forward",
                            "cudnnGetConvolutionForwardAlgorithm_v7", perf -> Cudnn.cudnnGetConvolutionForwardAlgorithm_v7(
                                    handle, p.d.x, p.d.w, p.d.conv, p.d.y, CANDIDATES, p.d.count, perf),
                            "cudnnGetConvolutionForwardWorkspaceSize", algo -> Cudnn.cudnnGetConvolutionForwardWorkspaceSize(
                                    handle, p.d.x, p.d.w, p.d.conv, p.d.y, algo, p.d.size));
                }
                try (Tensor work = workspace(p.forward.workspace)) {
                    checkCudnn(Cudnn.cudnnConvolutionForward(handle, p.d.one, p.d.x, ptr(x), p.d.w, ptr(filter), p.d.conv,
                            p.forward.algo, pointer(work), p.forward.workspace, p.d.zero, p.d.y, ptr(y)),
                            call("cudnnConvolutionForward", g, p.forward.algo));
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
        try (Tensor filter = backend.empty(g.cout(), g.kh(), g.kw(), g.cin())) {
            synchronized (this) {
                Plan p = plan(g);
                if (dx != null) {
                    k.filterOihwToOhwi(ptr(weight), ptr(filter), g.cout(), g.cin(), g.kh(), g.kw());
                    if (p.backwardData == null) {
                        p.backwardData = choose(p, cudnnConvolutionBwdDataAlgoPerfStruct.layout(), "conv2d backward data",
                                "cudnnGetConvolutionBackwardDataAlgorithm_v7",
                                perf -> Cudnn.cudnnGetConvolutionBackwardDataAlgorithm_v7(handle, p.d.w, p.d.y, p.d.conv,
                                        p.d.x, CANDIDATES, p.d.count, perf),
                                "cudnnGetConvolutionBackwardDataWorkspaceSize",
                                algo -> Cudnn.cudnnGetConvolutionBackwardDataWorkspaceSize(handle, p.d.w, p.d.y, p.d.conv,
                                        p.d.x, algo, p.d.size));
                    }
                    try (Tensor work = workspace(p.backwardData.workspace)) {
                        checkCudnn(Cudnn.cudnnConvolutionBackwardData(handle, p.d.one, p.d.w, ptr(filter), p.d.y, ptr(dy),
                                p.d.conv, p.backwardData.algo, pointer(work), p.backwardData.workspace, p.d.zero, p.d.x,
                                ptr(dx)), call("cudnnConvolutionBackwardData", g, p.backwardData.algo));
                    }
                }
                if (dWeight != null) {
                    if (p.backwardFilter == null) {
                        p.backwardFilter = choose(p, cudnnConvolutionBwdFilterAlgoPerfStruct.layout(),
                                "conv2d backward filter", "cudnnGetConvolutionBackwardFilterAlgorithm_v7",
                                perf -> Cudnn.cudnnGetConvolutionBackwardFilterAlgorithm_v7(handle, p.d.x, p.d.y,
                                        p.d.conv, p.d.w, CANDIDATES, p.d.count, perf),
                                "cudnnGetConvolutionBackwardFilterWorkspaceSize",
                                algo -> Cudnn.cudnnGetConvolutionBackwardFilterWorkspaceSize(handle, p.d.x, p.d.y,
                                        p.d.conv, p.d.w, algo, p.d.size));
                    }
                    // Into the OHWI scratch (overwritten), then added to dWeight in PyTorch's layout: accumulation.
                    try (Tensor work = workspace(p.backwardFilter.workspace)) {
                        checkCudnn(Cudnn.cudnnConvolutionBackwardFilter(handle, p.d.one, p.d.x, ptr(x), p.d.y, ptr(dy),
                                p.d.conv, p.backwardFilter.algo, pointer(work), p.backwardFilter.workspace, p.d.zero,
                                p.d.w, ptr(filter)), call("cudnnConvolutionBackwardFilter", g, p.backwardFilter.algo));
                    }
                    k.filterOhwiAddToOihw(ptr(filter), ptr(dWeight), g.cout(), g.cin(), g.kh(), g.kw());
                }
            }
        }
        if (dBias != null) k.columnSum(ptr(dy), g.b() * g.ho() * g.wo(), g.cout(), ptr(dBias), true);
    }

    /** An algorithm cuDNN chose for one direction of one geometry, and the workspace it needs. */
    private record Algorithm(int algo, long workspace) {}

    /**
     * The descriptors of one geometry and the algorithms chosen for it, made once: asking cuDNN's heuristics and
     * building descriptors cost more than a small convolution itself (about 1.5 ms per call was measured at
     * batch 1 on the H100 before this cache).
     */
    private final class Plan {
        final Descriptors d;
        Algorithm forward, backwardData, backwardFilter;

        Plan(ConvGeometry g) {
            d = new Descriptors(g);
        }
    }

    /** Plans by geometry, the least recently used evicted (and its descriptors destroyed) past the limit. */
    private final Map<ConvGeometry, Plan> plans = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<ConvGeometry, Plan> eldest) {
            if (size() <= PLANS) return false;
            eldest.getValue().d.close();
            return true;
        }
    };

    private Plan plan(ConvGeometry g) {
        return plans.computeIfAbsent(g, Plan::new);
    }

    /** A cuDNN call that ranks algorithm candidates into {@code perf} and returns its status. */
    private interface Ranking {
        int rank(MemorySegment perf);
    }

    /** A cuDNN call that writes the workspace size of {@code algo} into the plan's size cell; returns its status. */
    private interface WorkspaceQuery {
        int size(int algo);
    }

    /**
     * One direction's algorithm for a plan: cuDNN's heuristic ranking, the best candidate it reports usable, and
     * that candidate's workspace. The three directions differ only in their calls and perf-struct types, and every
     * perf struct starts with (algo, status), so the forward struct's accessors read all three.
     */
    private static Algorithm choose(Plan p, MemoryLayout perfLayout, String what, String rankCall, Ranking ranking,
                                    String sizeCall, WorkspaceQuery sizing) {
        MemorySegment perf = p.d.arena.allocate(perfLayout, CANDIDATES);
        checkCudnn(ranking.rank(perf), rankCall);
        int n = p.d.count.get(ValueLayout.JAVA_INT, 0);
        long stride = perfLayout.byteSize();
        for (int i = 0; i < n; i++) {
            MemorySegment candidate = perf.asSlice(i * stride, stride);
            if (cudnnConvolutionFwdAlgoPerfStruct.status(candidate) != 0) continue; // 0 is CUDNN_STATUS_SUCCESS
            int algo = cudnnConvolutionFwdAlgoPerfStruct.algo(candidate);
            checkCudnn(sizing.size(algo), sizeCall);
            return new Algorithm(algo, bytes(p.d.size));
        }
        throw new CudaException(CudaException.Api.CUDNN, 9, what, what + ": cuDNN offers no usable algorithm among "
                + n + " candidates");
    }

    private Tensor workspace(long bytes) {
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

    /**
     * The descriptors of one geometry (x, y as NHWC tensors, the OHWI filter, the convolution) and small host
     * cells; shared memory, as a cached plan may be used from any thread (under this object's lock).
     */
    private final class Descriptors implements AutoCloseable {
        final Arena arena = Arena.ofShared();
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
