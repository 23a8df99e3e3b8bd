package dev.polaformer.io;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/**
 * A PyTorch checkpoint in the zip format {@code torch.save} writes since 1.6: {@code <name>/data.pkl} (the
 * object tree, read with the {@link RestrictedUnpickler}) and {@code <name>/data/<key>} (raw little-endian
 * storages). Tensors come back as {@link TensorRef}s and are read on demand, strided views included.
 */
public final class TorchCheckpoint implements AutoCloseable {

    /** Globals that tensor checkpoints use; anything else is refused. */
    static final Set<String> ALLOWED = Set.of(
            "collections.OrderedDict",
            "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2",
            "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
            "torch._tensor._rebuild_from_type_v2", "torch.nn.parameter.Parameter", "torch.Tensor",
            "torch.FloatStorage", "torch.HalfStorage", "torch.BFloat16Storage", "torch.DoubleStorage",
            "torch.LongStorage", "torch.IntStorage", "torch.ShortStorage", "torch.CharStorage", "torch.ByteStorage",
            "torch.BoolStorage",
            // plain-data containers of training configs (kept as maps, never instantiated)
            "yacs.config.CfgNode", "argparse.Namespace");

    private static final Map<String, DType> STORAGE_TYPES = Map.of(
            "FloatStorage", DType.F32, "HalfStorage", DType.F16, "BFloat16Storage", DType.BF16,
            "DoubleStorage", DType.F64, "LongStorage", DType.I64, "IntStorage", DType.I32, "ShortStorage", DType.I16,
            "CharStorage", DType.I8, "ByteStorage", DType.U8, "BoolStorage", DType.BOOL);

    /** A storage named by a persistent id: its zip entry key, element type and length. */
    public record StorageRef(String key, DType dtype, long count) {}

    /** A tensor: a strided view of a storage. */
    public record TensorRef(StorageRef storage, long offset, int[] shape, int[] stride) {
        public long count() {
            long n = 1;
            for (int d : shape) n *= d;
            return n;
        }

        @Override
        public String toString() {
            return storage.dtype + Arrays.toString(shape);
        }
    }

    private final Path path;
    private final ZipFile zip;
    private final String prefix;
    private final Object root;

    private TorchCheckpoint(Path path, ZipFile zip, String prefix, Object root) {
        this.path = path;
        this.zip = zip;
        this.prefix = prefix;
        this.root = root;
    }

    public static TorchCheckpoint open(Path path) throws IOException {
        ZipFile zip;
        try {
            zip = new ZipFile(path.toFile());
        } catch (java.util.zip.ZipException e) {
            throw new IllegalArgumentException(path + " is not a PyTorch checkpoint in the zip format of torch.save "
                    + "(PyTorch ≥ 1.6); re-save it with torch.save(obj, f) from a recent PyTorch", e);
        }
        try {
            ZipEntry pkl = zip.stream().filter(e -> e.getName().endsWith("data.pkl")
                    && e.getName().indexOf('/') == e.getName().length() - "data.pkl".length() - 1).findFirst()
                    .orElseThrow(() -> new IllegalArgumentException(path + " has no <name>/data.pkl entry: not a torch.save checkpoint"));
            String prefix = pkl.getName().substring(0, pkl.getName().length() - "data.pkl".length());
            byte[] data;
            try (InputStream s = zip.getInputStream(pkl)) {
                data = s.readAllBytes();
            }
            RestrictedUnpickler u = new RestrictedUnpickler(path.toString(), data, ALLOWED, TorchCheckpoint::reduce,
                    TorchCheckpoint::persistentLoad);
            return new TorchCheckpoint(path, zip, prefix, u.load());
        } catch (IOException | RuntimeException e) {
            zip.close();
            throw e;
        }
    }

    private static Object persistentLoad(Object pid) {
        if (!(pid instanceof List<?> t) || t.size() < 5 || !"storage".equals(t.get(0))
                || !(t.get(1) instanceof RestrictedUnpickler.Global type) || !(t.get(4) instanceof Long count)) {
            throw new IllegalArgumentException("unexpected persistent id " + pid);
        }
        DType dtype = STORAGE_TYPES.get(type.name());
        if (dtype == null) throw new IllegalArgumentException("unsupported storage type " + type);
        return new StorageRef(String.valueOf(t.get(2)), dtype, count);
    }

    private static Object reduce(RestrictedUnpickler.Global g, List<Object> args) {
        switch (g.toString()) {
            case "collections.OrderedDict", "yacs.config.CfgNode", "argparse.Namespace" -> {
                Map<Object, Object> m = new LinkedHashMap<>();
                if (!args.isEmpty() && args.get(0) instanceof List<?> pairs) {
                    for (Object p : pairs) if (p instanceof List<?> kv && kv.size() == 2) m.put(kv.get(0), kv.get(1));
                }
                if (!args.isEmpty() && args.get(0) instanceof Map<?, ?> init) m.putAll(init);
                return m;
            }
            case "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2" -> {
                StorageRef s = (StorageRef) args.get(0);
                return new TensorRef(s, (Long) args.get(1), ints(args.get(2)), ints(args.get(3)));
            }
            case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state" -> {
                return args.get(0);
            }
            case "torch._tensor._rebuild_from_type_v2" -> {
                // (func, type, args, state): the tensor is func(*args); the Python type is irrelevant here.
                if (!(args.get(0) instanceof RestrictedUnpickler.Global f)) throw new IllegalArgumentException("bad tensor");
                @SuppressWarnings("unchecked") List<Object> inner = (List<Object>) args.get(2);
                return reduce(f, inner);
            }
            default -> throw new IllegalArgumentException("the global " + g + " cannot be called");
        }
    }

    private static int[] ints(Object o) {
        List<?> l = (List<?>) o;
        int[] a = new int[l.size()];
        for (int i = 0; i < a.length; i++) a[i] = Math.toIntExact((Long) l.get(i));
        return a;
    }

    public Path path() {
        return path;
    }

    /** The unpickled object tree. */
    public Object root() {
        return root;
    }

    /** The tensor's elements, gathered in row-major order of its shape, converted to float32. */
    public float[] floats(TensorRef t) throws IOException {
        ByteBuffer b = storageBytes(t.storage);
        long[] idx = elementIndices(t);
        float[] out = new float[idx.length];
        DType d = t.storage.dtype;
        for (int i = 0; i < idx.length; i++) {
            int at = Math.toIntExact(idx[i] * d.bytes);
            out[i] = switch (d) {
                case F32 -> b.getFloat(at);
                case F64 -> (float) b.getDouble(at);
                case F16 -> DType.halfToFloat(b.getShort(at));
                case BF16 -> DType.bf16ToFloat(b.getShort(at));
                case I64 -> b.getLong(at);
                case I32 -> b.getInt(at);
                case I16 -> b.getShort(at);
                case I8 -> b.get(at);
                case U8, BOOL -> b.get(at) & 0xff;
            };
        }
        return out;
    }

    public long[] longs(TensorRef t) throws IOException {
        ByteBuffer b = storageBytes(t.storage);
        long[] idx = elementIndices(t);
        long[] out = new long[idx.length];
        DType d = t.storage.dtype;
        for (int i = 0; i < idx.length; i++) {
            int at = Math.toIntExact(idx[i] * d.bytes);
            out[i] = switch (d) {
                case I64 -> b.getLong(at);
                case I32 -> b.getInt(at);
                case I16 -> b.getShort(at);
                case I8 -> b.get(at);
                case U8, BOOL -> b.get(at) & 0xff;
                default -> throw new IllegalArgumentException(path + ": a " + d + " tensor is not an integer tensor");
            };
        }
        return out;
    }

    /** Storage indices of a strided tensor's elements, checked against the storage's length. */
    private long[] elementIndices(TensorRef t) {
        long n = t.count();
        if (n > Integer.MAX_VALUE) throw new IllegalArgumentException(path + ": tensor " + t + " is too large");
        long[] idx = new long[(int) n];
        int r = t.shape.length;
        int[] pos = new int[r];
        long off = t.offset;
        for (int i = 0; i < n; i++) {
            if (off < 0 || off >= t.storage.count) {
                throw new IllegalArgumentException(path + ": tensor " + t + " reaches outside its storage of "
                        + t.storage.count + " elements");
            }
            idx[i] = off;
            for (int k = r - 1; k >= 0; k--) {
                off += t.stride[k];
                if (++pos[k] < t.shape[k]) break;
                off -= (long) t.stride[k] * t.shape[k];
                pos[k] = 0;
            }
        }
        return idx;
    }

    private ByteBuffer storageBytes(StorageRef s) throws IOException {
        ZipEntry e = zip.getEntry(prefix + "data/" + s.key);
        if (e == null) throw new IllegalArgumentException(path + ": storage " + s.key + " is missing from the archive");
        byte[] b;
        try (InputStream in = zip.getInputStream(e)) {
            b = in.readAllBytes();
        }
        if (b.length < s.count * s.dtype.bytes) {
            throw new IllegalArgumentException(path + ": storage " + s.key + " holds " + b.length + " bytes, "
                    + s.count * s.dtype.bytes + " expected");
        }
        return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** Names of the entries of the root dict that hold state dicts (maps of tensors). */
    public List<String> stateDictNames() {
        List<String> out = new ArrayList<>();
        if (root instanceof Map<?, ?> m) {
            if (isStateDict(m)) out.add("");
            for (var e : m.entrySet()) if (e.getValue() instanceof Map<?, ?> sub && isStateDict(sub)) out.add(String.valueOf(e.getKey()));
        }
        return out;
    }

    private static boolean isStateDict(Map<?, ?> m) {
        return !m.isEmpty() && m.values().stream().anyMatch(v -> v instanceof TensorRef);
    }

    /**
     * The tensors of one state dict as a {@link TensorSource}, with a DDP {@code module.} prefix removed.
     *
     * @param which a root key ({@code model}, {@code model_ema}, ...); {@code model_ema} also finds the official
     *              trainer's {@code state_dict_ema}; null picks {@code model}, then {@code state_dict}, then the
     *              root itself
     */
    public TensorSource stateDict(String which) {
        Map<?, ?> chosen = choose(which);
        Map<String, TensorRef> tensors = new LinkedHashMap<>();
        boolean allPrefixed = chosen.keySet().stream().allMatch(k -> String.valueOf(k).startsWith("module."));
        for (var e : chosen.entrySet()) {
            if (!(e.getValue() instanceof TensorRef t)) continue;
            String k = String.valueOf(e.getKey());
            tensors.put(allPrefixed ? k.substring("module.".length()) : k, t);
        }
        String where = path + (which == null ? "" : " [" + which + "]");
        return new TensorSource() {
            public String describe() { return where; }
            public java.util.Set<String> names() { return tensors.keySet(); }
            public int[] shape(String name) { return get(name).shape().clone(); }
            public float[] floats(String name) throws IOException { return TorchCheckpoint.this.floats(get(name)); }
            public long longValue(String name) throws IOException {
                TensorRef t = get(name);
                if (t.count() != 1) throw new IllegalArgumentException(where + ": " + name + " is not a single value");
                return t.storage().dtype().isFloating() ? (long) TorchCheckpoint.this.floats(t)[0] : longs(t)[0];
            }
            private TensorRef get(String name) {
                TensorRef t = tensors.get(name);
                if (t == null) throw new IllegalArgumentException(where + ": no tensor named " + name);
                return t;
            }
        };
    }

    private Map<?, ?> choose(String which) {
        if (!(root instanceof Map<?, ?> m)) throw new IllegalArgumentException(path + " does not hold a dict");
        List<String> candidates = which == null ? List.of("model", "state_dict")
                : which.equals("model_ema") ? List.of("model_ema", "state_dict_ema") : List.of(which);
        for (String c : candidates) if (m.get(c) instanceof Map<?, ?> sub && isStateDict(sub)) return sub;
        if (which == null && isStateDict(m)) return m;
        throw new IllegalArgumentException(path + ": no state dict " + (which == null ? "" : "'" + which + "' ")
                + "found; it holds " + stateDictNames().stream().map(n -> n.isEmpty() ? "(the root)" : n).toList()
                + " among its keys " + m.keySet());
    }

    @Override
    public void close() throws IOException {
        zip.close();
    }
}
