package dev.polaformer.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Checks {@link CudaKernels} against the kernels' C signatures without a GPU: every method is called with NULL
 * pointers and small sizes through a recording {@link KernelLauncher}, and each launch must name an
 * {@code extern "C" __global__} kernel of {@code native/src/main/cuda} with the same number and kinds of
 * arguments, in a geometry that covers the work and fits the default shared-memory limit. So a signature that
 * drifts on either side fails the CPU build.
 */
class CudaKernelsSignatureTest {

    /** What a C parameter is, and the Java argument type that must be passed for it. */
    enum Kind {
        POINTER(MemorySegment.class), INT(Integer.class), FLOAT(Float.class), LONG(Long.class), DOUBLE(Double.class);

        final Class<?> javaType;

        Kind(Class<?> javaType) {
            this.javaType = javaType;
        }
    }

    record Launch(String kernel, int[] grid, int[] block, int sharedBytes, Object[] args) {
        int threads() {
            return block[0] * block[1] * block[2];
        }

        int intArg(int i) {
            return (Integer) args[i];
        }

        @Override
        public String toString() {
            return kernel + " grid " + Arrays.toString(grid) + " block " + Arrays.toString(block) + " shared "
                    + sharedBytes;
        }
    }

    private static Map<String, List<Kind>> signatures;
    private static Map<String, Integer> defines;

    @BeforeAll
    static void parseSources() {
        signatures = new TreeMap<>();
        defines = new TreeMap<>();
        Pattern kernel = Pattern.compile(
                "extern\\s+\"C\"\\s+__global__\\s+void\\s+(?:__launch_bounds__\\s*\\([^)]*\\)\\s+)?(\\w+)\\s*\\(([^)]*)\\)");
        Pattern define = Pattern.compile("#define\\s+(PF_\\w+)\\s+(\\d+)\\s*$", Pattern.MULTILINE);
        for (Path file : sources()) {
            String text = stripComments(read(file));
            Matcher m = kernel.matcher(text);
            while (m.find()) {
                List<Kind> kinds = new ArrayList<>();
                for (String p : m.group(2).split(",")) kinds.add(kindOf(m.group(1), p.trim()));
                if (signatures.put(m.group(1), kinds) != null) fail("kernel " + m.group(1) + " defined twice");
            }
            Matcher d = define.matcher(text);
            while (d.find()) defines.put(d.group(1), Integer.parseInt(d.group(2)));
        }
        assertFalse(signatures.isEmpty(), "no kernels parsed");
    }

    /** The kernel names in the sources (for the NVRTC test). */
    static Set<String> kernelNames() {
        if (signatures == null) parseSources();
        return signatures.keySet();
    }

    /** The kernel sources in the native module's folder (the test runs from cuda-bindings or the repository root). */
    private static List<Path> sources() {
        Path dir = Path.of("../native/src/main/cuda");
        if (!Files.isDirectory(dir)) dir = Path.of("native/src/main/cuda");
        assertTrue(Files.isDirectory(dir), "kernel sources not found at " + dir.toAbsolutePath());
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.toString().endsWith(".cu") || p.toString().endsWith(".cuh")).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String stripComments(String s) {
        return s.replaceAll("(?s)/\\*.*?\\*/", " ").replaceAll("//[^\n]*", " ");
    }

    private static Kind kindOf(String kernel, String param) {
        if (param.contains("*")) return Kind.POINTER;
        String type = param.replaceAll("\\s+\\w+$", "").replace("const", "").trim().replaceAll("\\s+", " ");
        return switch (type) {
            case "int" -> Kind.INT;
            case "float" -> Kind.FLOAT;
            case "double" -> Kind.DOUBLE;
            case "long long" -> Kind.LONG;
            default -> throw new AssertionError(kernel + ": parameter type not supported by the launcher: " + param);
        };
    }

    // ================================================================ recording every method

    private static final MemorySegment P = MemorySegment.NULL;

    /** Calls every public method of CudaKernels at least once; returns the launches and the methods called. */
    private static List<Launch> launchEverything(Set<String> called) {
        List<Launch> launches = new ArrayList<>();
        CudaKernels k = new CudaKernels((name, gx, gy, gz, bx, by, bz, shared, args) ->
                launches.add(new Launch(name, new int[] {gx, gy, gz}, new int[] {bx, by, bz}, shared, args)));
        int b = 2, n = 37, c = 12, rows = 300, big = 1 << 20;
        record Call(String method, Runnable run) {}
        List<Call> calls = List.of(
                new Call("fill", () -> k.fill(P, big, 1f)),
                new Call("scale", () -> k.scale(P, P, 1000, 2f)),
                new Call("addScaled", () -> k.addScaled(P, P, 1000, 2f)),
                new Call("gelu", () -> k.gelu(P, P, 7)),
                new Call("geluBackward", () -> k.geluBackward(P, P, P, 7)),
                new Call("silu", () -> k.silu(P, P, 7)),
                new Call("siluBackward", () -> k.siluBackward(P, P, P, 7)),
                new Call("broadcastAdd", () -> k.broadcastAdd(P, P, P, new int[] {b, n, c}, new int[] {c})),
                new Call("broadcastMul", () -> k.broadcastMul(P, P, P, new int[] {b, 3, 5, c}, new int[] {b, 1, 1, c})),
                new Call("copyStrided", () -> k.copyStrided(P, new int[] {4 * n * c, 4 * c, 1}, P,
                        new int[] {n * c, c, 1}, new int[] {b, n, c})),
                new Call("reduceTo", () -> k.reduceTo(P, P, P, new int[] {b, n, c}, new int[] {1, 1, c}, true)),
                new Call("columnSum", () -> k.columnSum(P, rows, c, P, true)),
                new Call("filterOihwToOhwi", () -> k.filterOihwToOhwi(P, P, 8, 3, 7, 7)),
                new Call("filterOhwiAddToOihw", () -> k.filterOhwiAddToOihw(P, P, 8, 3, 7, 7)),
                new Call("softmaxRows", () -> k.softmaxRows(P, P, rows, n)),
                new Call("softmaxBackwardRows", () -> k.softmaxBackwardRows(P, P, P, rows, n)),
                new Call("rope", () -> k.rope(P, P, P, P, b, n, c, 6)),
                new Call("ropeBackward", () -> k.ropeBackward(P, P, P, P, b, n, c, 6)),
                new Call("avgPool", () -> k.avgPool(P, P, b, n, 300)),
                new Call("avgPoolBackward", () -> k.avgPoolBackward(P, P, b, n, 300)),
                new Call("crossEntropy", () -> k.crossEntropy(P, P, P, P, b, 1000)),
                new Call("sumOfSquares", () -> k.sumOfSquares(P, P, big)),
                new Call("adamW", () -> k.adamW(P, P, P, P, 1000, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.05f, 3)),
                new Call("layerNorm", () -> k.layerNorm(P, P, P, P, P, P, rows, c, 1e-5f)),
                new Call("layerNormBackward", () -> k.layerNormBackward(P, P, P, P, P, P, rows, c)),
                new Call("layerNormParamGrads", () -> k.layerNormParamGrads(P, P, P, P, P, P, rows, 70)),
                new Call("columnStats", () -> k.columnStats(P, P, P, P, P, rows, 70, 1e-5f, 0.1f)),
                new Call("batchNormApply", () -> k.batchNormApply(P, P, P, P, P, P, rows, c, 1e-5f, true)),
                new Call("batchNormBackward", () -> k.batchNormBackward(P, P, P, P, P, P, P, P, rows, 70, true)),
                // Channels for scalar and float4 threads, one and several channel groups, k = 3, 5 and 7.
                new Call("depthwiseForward", () -> {
                    for (int[] s : depthwiseShapes()) k.depthwiseForward(P, P, P, P, b, 9, 11, s[0], s[1], s[2]);
                }),
                new Call("depthwiseBackwardInput", () -> {
                    for (int[] s : depthwiseShapes()) k.depthwiseBackwardInput(P, P, P, b, 9, 11, s[0], s[1], s[2]);
                }),
                new Call("depthwiseBackwardWeight", () -> {
                    for (int[] s : depthwiseShapes()) k.depthwiseBackwardWeight(P, P, P, b, 9, 11, s[0], s[1], s[2]);
                }),
                new Call("linearAttentionKv", () -> {
                    for (int[] s : linearShapes()) {
                        k.linearAttentionKv(P, 4 * s[0], P, 4 * s[0], P, P, P, P, s[2], s[3], s[0], s[1]);
                    }
                }),
                new Call("linearAttentionOut", () -> {
                    for (int[] s : linearShapes()) {
                        k.linearAttentionOut(P, 4 * s[0], P, P, P, P, P, P, P, s[0], s[2], s[3], s[0], s[1]);
                    }
                }),
                new Call("linearAttentionDq", () -> {
                    for (int[] s : linearShapes()) {
                        k.linearAttentionDq(P, 4 * s[0], P, P, P, P, P, P, P, s[0], P, 4 * s[0], P, P, P, s[2], s[3], s[0], s[1]);
                    }
                }),
                new Call("linearAttentionDsum", () -> {
                    for (int[] s : linearShapes()) {
                        k.linearAttentionDsum(P, 4 * s[0], P, P, P, P, P, s[0], P, P, s[2], s[3], s[0], s[1]);
                    }
                }),
                new Call("linearAttentionDsigma", () -> k.linearAttentionDsigma(P, P, P, P, P, b, 3, 32)),
                new Call("linearAttentionDkv", () -> {
                    for (int[] s : linearShapes()) {
                        k.linearAttentionDkv(P, 4 * s[0], P, 4 * s[0], P, P, P, P, P, s[0], P, s[0], s[2], s[3], s[0], s[1]);
                    }
                }),
                new Call("softmaxAttentionForward", () -> {
                    for (int[] ch : headShapes()) {
                        k.softmaxAttentionForward(P, 4 * ch[0], P, 4 * ch[0], P, 4 * ch[0], P, P, P, ch[0], P, b, 150, ch[0], ch[1]);
                    }
                }),
                new Call("softmaxAttentionBackwardDq", () -> {
                    for (int[] ch : headShapes()) {
                        k.softmaxAttentionBackwardDq(P, 4 * ch[0], P, 4 * ch[0], P, 4 * ch[0], P, P, P, ch[0], P, P, ch[0],
                                P, ch[0], P, b, 150, ch[0], ch[1]);
                    }
                }),
                new Call("softmaxAttentionBackwardDkv", () -> {
                    for (int[] ch : headShapes()) {
                        k.softmaxAttentionBackwardDkv(P, 4 * ch[0], P, 4 * ch[0], P, 4 * ch[0], P, P, P, P, P, ch[0], P,
                                ch[0], P, ch[0], b, 150, ch[0], ch[1]);
                    }
                }));
        for (Call call : calls) {
            call.run().run();
            called.add(call.method());
        }
        return launches;
    }

    /**
     * (channels, heads, batch, tokens) for the linear attention: head widths 2 to 128 (the largest supported), 96
     * (b4/b5), few tokens and b2's stage 1 (3136 tokens in several chunks and token blocks).
     */
    private static int[][] linearShapes() {
        return new int[][] {{4, 2, 2, 37}, {12, 3, 2, 37}, {64, 2, 2, 37}, {320, 10, 2, 37}, {128, 2, 2, 37},
            {64, 1, 128, 3136}, {96, 1, 4, 3136}, {192, 2, 3, 784}, {256, 2, 1, 300}, {128, 1, 2, 5}};
    }

    /** (channels, heads): head widths 2, 4, 32 (the models' width) and 64 (the largest supported). */
    private static int[][] headShapes() {
        return new int[][] {{4, 2}, {12, 3}, {64, 2}, {320, 10}, {128, 2}};
    }

    // ================================================================ the checks

    @Test
    void everyMethodLaunchesAnExistingKernelWithMatchingArguments() {
        Set<String> called = new TreeSet<>();
        List<Launch> launches = launchEverything(called);
        Set<String> publicMethods = Arrays.stream(CudaKernels.class.getDeclaredMethods())
                .filter(m -> Modifier.isPublic(m.getModifiers()) && !Modifier.isStatic(m.getModifiers()))
                .map(Method::getName).collect(Collectors.toCollection(TreeSet::new));
        assertEquals(publicMethods, called, "the test must call every public CudaKernels method");
        for (Launch l : launches) {
            List<Kind> kinds = signatures.get(l.kernel());
            assertTrue(kinds != null, "no kernel named " + l.kernel() + " in the .cu sources");
            assertEquals(kinds.size(), l.args().length, l.kernel() + ": argument count");
            for (int i = 0; i < kinds.size(); i++) {
                Object a = l.args()[i];
                assertTrue(a != null && kinds.get(i).javaType.isInstance(a), l.kernel() + ": argument " + i + " is "
                        + (a == null ? "null" : a.getClass().getSimpleName()) + ", the kernel takes " + kinds.get(i));
            }
        }
        Set<String> launched = launches.stream().map(Launch::kernel).collect(Collectors.toCollection(TreeSet::new));
        assertEquals(signatures.keySet(), launched, "every kernel in the sources is reachable from CudaKernels");
    }

    @Test
    void geometryIsValidAndCoversTheWork() {
        for (Launch l : launchEverything(new TreeSet<>())) {
            String what = l.toString();
            assertTrue(l.grid()[0] >= 1 && l.grid()[1] >= 1 && l.grid()[2] >= 1, what);
            assertTrue(l.grid()[1] <= 65535 && l.grid()[2] <= 65535, what);
            assertTrue(l.threads() >= 32 && l.threads() <= 1024 && l.threads() % 32 == 0, what + ": whole warps");
            assertTrue(l.sharedBytes() >= 0 && l.sharedBytes() <= CudaKernels.DEFAULT_SHARED_LIMIT,
                    what + ": dynamic shared memory over 48 KiB needs an opt-in");
            checkCoverage(l);
        }
    }

    /** Per kernel family, the geometry the kernel's indexing assumes (see the comment above each kernel). */
    private static void checkCoverage(Launch l) {
        String k = l.kernel(), what = l.toString();
        Object[] a = l.args();
        if (k.startsWith("pf_linear_attention_kv") || k.startsWith("pf_linear_attention_dsum")) {
            int b = (Integer) a[a.length - 4], n = (Integer) a[a.length - 3], c = (Integer) a[a.length - 2];
            int heads = (Integer) a[a.length - 1], d = c / heads, flows = k.endsWith("kv") ? 1 : 2;
            int block = defines.get("PF_SUM_BLOCK");
            assertEquals(b * heads, l.grid()[0], what);
            assertTrue(l.grid()[1] <= Math.max(1, (n + CudaKernels.LINEAR_MIN_CHUNK - 1) / CudaKernels.LINEAR_MIN_CHUNK),
                    what + ": no chunk shorter than LINEAR_MIN_CHUNK tokens unless there is one chunk");
            // The kernel splits blockIdx.z into ceil(2d/64) row blocks times column blocks of the flows' columns,
            // each flow's d/flows columns padded to 16 (pf_sum_origin, pf_sum_column).
            int rowBlocks = (2 * d + block - 1) / block, padded = (d / flows + 15) / 16 * 16;
            assertEquals(rowBlocks * ((flows * padded + block - 1) / block), l.grid()[2], what + ": output tiles");
            assertEquals(defines.get("PF_SUM_THREADS"), l.threads(), what);
            assertEquals(block * block, 16 * l.threads(), what + ": a 4 × 4 register tile per thread");
            assertEquals(3 * defines.get("PF_SUM_TILE") * block * Float.BYTES, l.sharedBytes(), what + ": staged tiles");
        } else if (k.startsWith("pf_linear_attention_") && !k.endsWith("dsigma") && !k.endsWith("finish")) {
            int b = (Integer) a[a.length - 4], n = (Integer) a[a.length - 3], heads = (Integer) a[a.length - 1];
            assertTrue((long) l.grid()[0] * CudaKernels.LINEAR_TOKENS >= n, what + ": tokens");
            assertEquals(b * heads, l.grid()[1], what);
            assertEquals(32 * CudaKernels.LINEAR_WARPS, l.threads(), what);
            int d = (Integer) a[a.length - 2] / heads, dd = 2 * d;
            assertTrue(d <= defines.get("PF_MAX_D"), what + ": dq's per-lane sums are sized for PF_MAX_D");
            int matrix = d <= defines.get("PF_SHARED_S_MAX_D") ? dd * (d + 1) : 0;
            assertEquals((matrix + dd + CudaKernels.LINEAR_WARPS * (4 * dd + d)) * Float.BYTES, l.sharedBytes(),
                    what + ": S (if in shared), m, per-warp rows");
        } else if (k.startsWith("pf_softmax_attention_")) {
            int b = (Integer) a[a.length - 4], n = (Integer) a[a.length - 3], c = (Integer) a[a.length - 2];
            int heads = (Integer) a[a.length - 1];
            assertTrue((long) l.grid()[0] * CudaKernels.SOFTMAX_TILE >= n, what);
            assertEquals(b * heads, l.grid()[1], what);
            assertEquals(CudaKernels.SOFTMAX_TILE, l.threads(), what + ": one row per thread, lse/delta by thread");
            assertTrue(c / heads <= (k.endsWith("_d32") ? 32 : 64), what + ": register width");
        } else if (k.equals("pf_softmax_rows") || k.equals("pf_softmax_backward_rows")) {
            assertEquals(a[a.length - 2], l.grid()[0], what + ": one block per row");
            assertEquals(defines.get("PF_BLOCK"), l.threads(), what);
        } else if (k.equals("pf_cross_entropy")) {
            assertEquals(a[a.length - 2], l.grid()[0], what + ": one block per row");
            assertEquals(defines.get("PF_BLOCK"), l.threads(), what);
        } else if (k.startsWith("pf_layernorm_forward") || k.startsWith("pf_layernorm_backward")) {
            int rows = (Integer) a[6];
            assertTrue((long) l.grid()[0] * defines.get("PF_ROWS_PER_BLOCK") >= rows, what);
            assertEquals(32 * defines.get("PF_ROWS_PER_BLOCK"), l.threads(), what + ": a warp per row");
        } else if (Set.of("pf_layernorm_param_grads", "pf_column_stats", "pf_batchnorm_backward").contains(k)) {
            int c = columnsOf(k, a);
            assertTrue((long) l.grid()[0] * 32 >= c, what);
            assertEquals(List.of(32, defines.get("PF_ROW_GROUPS"), 1), List.of(l.block()[0], l.block()[1], l.block()[2]),
                    what + ": the kernels walk rows in steps of PF_ROW_GROUPS");
        } else if (k.equals("pf_depthwise_forward") || k.equals("pf_depthwise_backward_input")) {
            int n = a.length, c = (Integer) a[n - 4], kk = (Integer) a[n - 3], vec = (Integer) a[n - 1];
            assertTrue(vec == 1 || vec == 4 && c % 4 == 0, what + ": vector width " + vec);
            int vectors = c / vec, group = (vectors + l.grid()[1] - 1) / l.grid()[1];
            assertEquals(List.of(CudaKernels.BLOCK, 1, 1), List.of(l.block()[0], l.block()[1], l.block()[2]), what);
            assertTrue(group <= l.threads(), what + ": a block holds a pixel's channel group");
            assertTrue(l.sharedBytes() >= group * vec * kk * kk * Float.BYTES, what + ": the group's weights");
            assertTrue((long) l.grid()[0] * (l.threads() / group) <= Integer.MAX_VALUE, what + ": int pixel counters");
        } else if (k.equals("pf_depthwise_backward_weight")) {
            int b = (Integer) a[3], h = (Integer) a[4], w = (Integer) a[5], c = (Integer) a[6], kk = (Integer) a[7];
            int pad = (Integer) a[8];
            assertTrue((long) l.grid()[0] * 32 >= c, what);
            assertEquals(CudaKernels.depthwiseWeightChunks(b, h, w, c, kk, pad), l.grid()[1],
                    what + ": one chunk of items per grid row, as many as the partials are sized for");
            assertEquals(1, l.grid()[2], what);
            assertEquals(List.of(32, defines.get("PF_ROW_GROUPS"), 1), List.of(l.block()[0], l.block()[1], l.block()[2]),
                    what + ": lanes are channels, row groups take items round-robin");
            assertEquals(CudaKernels.DEPTHWISE_SEGMENT, defines.get("PF_DW_SEGMENT"), what + ": columns per item");
        } else if (k.equals("pf_reduce_to")) {
            long out = 1;
            for (int i = 7; i < 11; i++) out *= (Integer) a[i];
            assertTrue((long) l.grid()[0] * 32 >= out, what);
            assertEquals(32, l.block()[0], what);
        } else if (k.equals("pf_avgpool")) {
            assertTrue((long) l.grid()[0] * l.threads() >= (Integer) a[4], what);
            assertEquals(a[2], l.grid()[1], what);
        } else if (k.equals("pf_sum_squares")) {
            assertEquals(defines.get("PF_BLOCK"), l.threads(), what);
            assertTrue(l.grid()[0] <= CudaKernels.MAX_SUM_PARTIALS, what);
        } else {
            // 1-D grid-stride kernels: any grid covers the work; they need one block dimension.
            assertEquals(CudaKernels.BLOCK, l.block()[0], what);
            assertEquals(1, l.block()[1] * l.block()[2], what);
        }
    }

    /** Depthwise (c, k, pad): c = 70 scalar, 112 float4 in one group, 1152 float4 over several groups, k = 7. */
    private static int[][] depthwiseShapes() {
        return new int[][] {{70, 5, 2}, {112, 3, 1}, {1152, 5, 2}, {12, 7, 3}};
    }

    private static int columnsOf(String kernel, Object[] a) {
        return switch (kernel) {
            case "pf_layernorm_param_grads" -> (Integer) a[7];
            case "pf_column_stats" -> (Integer) a[6];
            default -> (Integer) a[9]; // pf_batchnorm_backward
        };
    }

    @Test
    void javaConstantsMatchTheKernelsDefines() {
        assertEquals(CudaKernels.ROW_GROUPS, defines.get("PF_ROW_GROUPS"));
        assertEquals(CudaKernels.BLOCK, defines.get("PF_BLOCK"));
        assertEquals(CudaKernels.ROWS_PER_BLOCK, defines.get("PF_ROWS_PER_BLOCK"));
        assertEquals(CudaKernels.LINEAR_SUM_THREADS, defines.get("PF_SUM_THREADS"));
        assertEquals(CudaKernels.LINEAR_SUM_BLOCK, defines.get("PF_SUM_BLOCK"));
        assertEquals(CudaKernels.LINEAR_SUM_TILE, defines.get("PF_SUM_TILE"));
        assertEquals(CudaKernels.LINEAR_WARPS, defines.get("PF_WARPS"));
        assertEquals(CudaKernels.LINEAR_TOKENS, defines.get("PF_TOKENS"));
        assertEquals(CudaKernels.LINEAR_MAX_HEAD_DIM, defines.get("PF_MAX_D"));
        assertEquals(CudaKernels.LINEAR_SHARED_S_MAX_D, defines.get("PF_SHARED_S_MAX_D"));
        assertEquals(CudaKernels.SOFTMAX_TILE, defines.get("PF_SA_TILE"));
        // dq keeps PF_LANE_ROWS sums a lane: enough for the widest head's 2d rows.
        assertTrue(defines.get("PF_LANE_ROWS") * 32 >= 2 * CudaKernels.LINEAR_MAX_HEAD_DIM);
    }

    @Test
    void theModuleListsEverySourceFile() {
        Set<String> files = new TreeSet<>();
        for (Path p : sources()) files.add(p.getFileName().toString());
        Set<String> listed = new TreeSet<>(CudaKernels.HEADER_SOURCES);
        listed.add(CudaKernels.MAIN_SOURCE);
        assertEquals(files, listed, "CudaKernels.HEADER_SOURCES + MAIN_SOURCE against native/src/main/cuda");
        String main = read(sources().stream().filter(p -> p.endsWith(CudaKernels.MAIN_SOURCE)).findFirst().orElseThrow());
        for (String h : CudaKernels.HEADER_SOURCES) {
            if (h.endsWith(".cu")) assertTrue(main.contains("#include \"" + h + "\""), CudaKernels.MAIN_SOURCE + " includes " + h);
        }
    }

    @Test
    void noWorkLaunchesNothing() {
        List<String> launched = new ArrayList<>();
        CudaKernels k = new CudaKernels((name, gx, gy, gz, bx, by, bz, shared, args) -> launched.add(name));
        k.fill(P, 0, 0f);
        k.layerNorm(P, P, P, P, P, P, 0, 8, 1e-5f);
        k.softmaxRows(P, P, 0, 8);
        k.linearAttentionOut(P, 8, P, P, P, P, P, P, P, 8, 1, 0, 8, 2);
        k.broadcastAdd(P, P, P, new int[] {0, 8}, new int[] {8});
        assertEquals(List.of(), launched);
    }

    @Test
    void badArgumentsNameTheKernel() {
        CudaKernels k = new CudaKernels((name, gx, gy, gz, bx, by, bz, shared, args) -> {});
        var wide = assertThrows(IllegalArgumentException.class,
                () -> k.linearAttentionKv(P, 1024, P, 1024, P, P, P, P, 1, 4, 512, 2));
        assertTrue(wide.getMessage().startsWith("pf_linear_attention_kv: head width 256"), wide.getMessage());
        var wideSoftmax = assertThrows(IllegalArgumentException.class,
                () -> k.softmaxAttentionForward(P, 384, P, 384, P, 384, P, P, P, 96, P, 1, 4, 96, 1));
        assertTrue(wideSoftmax.getMessage().contains("head width 96"), wideSoftmax.getMessage());
        var odd = assertThrows(IllegalArgumentException.class,
                () -> k.softmaxAttentionForward(P, 6, P, 6, P, 6, P, P, P, 6, P, 1, 4, 6, 2));
        assertTrue(odd.getMessage().contains("pf_softmax_attention_forward"), odd.getMessage());
        var broadcast = assertThrows(IllegalArgumentException.class,
                () -> k.broadcastAdd(P, P, P, new int[] {2, 3}, new int[] {4}));
        assertTrue(broadcast.getMessage().startsWith("pf_broadcast_add"), broadcast.getMessage());
        assertThrows(IllegalArgumentException.class, () -> k.rope(P, P, P, P, 1, 4, 12, 5));
        assertThrows(IllegalArgumentException.class, () -> k.adamW(P, P, P, P, 4, 1e-3f, 0.9f, 0.99f, 1e-8f, 0f, 0));
    }
}
