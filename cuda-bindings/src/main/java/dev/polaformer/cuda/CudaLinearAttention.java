package dev.polaformer.cuda;

import dev.polaformer.numerics.LinearAttention;
import dev.polaformer.numerics.RopeTables;
import dev.polaformer.numerics.Tensor;

import static dev.polaformer.cuda.CudaBackend.ptr;

/**
 * The polarity-aware linear attention core on the device: the fused kernels of {@code attention_linear.cu}
 * ({@link CudaKernels#linearAttentionKv} and the passes after it), with scratch for m, S and the backward's token
 * sums taken from the pool per call. Arguments are checked by {@link LinearAttention#check}, as on the CPU.
 *
 * <p>A key whose feature map overflows shows up as a non-finite m; then the call is repeated on the host, whose
 * CPU op finds the key and throws the same {@link ArithmeticException} (batch, token, head) as the CPU backend.
 * Tensors off the kernels' layout (rows must be unit-stride and batches {@code n} rows apart), head widths above
 * {@value CudaKernels#LINEAR_MAX_HEAD_DIM}, and a build without the attention kernels use the host fallback.
 */
final class CudaLinearAttention implements LinearAttention {
    private static final String[] KERNELS = {"pf_linear_attention_kv", "pf_linear_attention_out",
        "pf_linear_attention_dq", "pf_linear_attention_dsum", "pf_linear_attention_dsigma", "pf_linear_attention_dkv",
        "pf_linear_attention_finish"};

    private final CudaBackend backend;

    CudaLinearAttention(CudaBackend backend) {
        this.backend = backend;
    }

    private boolean onDevice(int heads, Tensor[] rows, Tensor... contiguous) {
        for (Tensor t : rows) if (!backend.rowsOnDevice(t)) return false;
        if (!backend.onDevice(contiguous)) return false;
        int c = rows[0].dim(2);
        return rows[0].dim(0) > 0 && rows[0].dim(1) > 0 && c % heads == 0 && c / heads <= CudaKernels.LINEAR_MAX_HEAD_DIM && backend.hasKernels(KERNELS);
    }

    @Override
    public void forward(Tensor q, Tensor k, Tensor v, int heads, Tensor s1, Tensor s2, RopeTables rope, Tensor out) {
        String op = "linearAttention";
        if (q != null && k != null && v != null && out != null && s1 != null && s2 != null && rope != null && heads > 0
                && onDevice(heads, new Tensor[] {q, k, v, out}, s1, s2, rope.sin(), rope.cos())) {
            LinearAttention.check(op, q, k, v, heads, s1, s2, rope, out);
            int b = q.dim(0), n = q.dim(1), c = q.dim(2), d = c / heads;
            try (Tensor m = backend.empty(b, heads, 2 * d); Tensor s = backend.empty(b, heads, 2 * d, d)) {
                CudaKernels kn = backend.kernels();
                kn.linearAttentionKv(ptr(k), k.stride(1), ptr(v), v.stride(1), ptr(rope.sin()), ptr(rope.cos()), ptr(m),
                        ptr(s), b, n, c, heads);
                if (finite(m)) {
                    kn.linearAttentionOut(ptr(q), q.stride(1), ptr(s1), ptr(s2), ptr(rope.sin()), ptr(rope.cos()), ptr(m),
                            ptr(s), ptr(out), out.stride(1), b, n, c, heads);
                    return;
                }
            }
        }
        backend.host.run(op, c -> c.backend().linearAttention().forward(c.in(q), c.in(k), c.in(v), heads, c.in(s1),
                c.in(s2), c.in(rope), c.out(out)));
    }

    @Override
    public void backward(Tensor q, Tensor k, Tensor v, int heads, Tensor s1, Tensor s2, RopeTables rope, Tensor dOut,
                         Tensor dq, Tensor dk, Tensor dv, Tensor ds1, Tensor ds2) {
        String op = "linearAttentionBackward";
        boolean all = q != null && k != null && v != null && dOut != null && dq != null && dk != null && dv != null
                && s1 != null && s2 != null && ds1 != null && ds2 != null && rope != null && heads > 0;
        if (all && onDevice(heads, new Tensor[] {q, k, v, dOut, dq, dk, dv}, s1, s2, ds1, ds2, rope.sin(), rope.cos())) {
            LinearAttention.check(op, q, k, v, heads, s1, s2, rope, dOut);
            LinearAttention.check(op, dq, dk, dv, heads, ds1, ds2, rope, dOut);
            int b = q.dim(0), n = q.dim(1), c = q.dim(2), d = c / heads;
            try (Tensor m = backend.empty(b, heads, 2 * d); Tensor s = backend.empty(b, heads, 2 * d, d);
                 Tensor tokenScalars = backend.empty(b, heads, n, 4); Tensor dS = backend.empty(b, heads, 2 * d, d);
                 Tensor dm = backend.empty(b, heads, 2 * d); Tensor dSig = backend.empty(b, heads, 2, 2 * d)) {
                CudaKernels kn = backend.kernels();
                var sin = ptr(rope.sin());
                var cos = ptr(rope.cos());
                kn.linearAttentionKv(ptr(k), k.stride(1), ptr(v), v.stride(1), sin, cos, ptr(m), ptr(s), b, n, c, heads);
                if (finite(m)) {
                    kn.linearAttentionDq(ptr(q), q.stride(1), ptr(s1), ptr(s2), sin, cos, ptr(m), ptr(s), ptr(dOut),
                            dOut.stride(1), ptr(dq), dq.stride(1), ptr(tokenScalars), ptr(dm), ptr(dSig), b, n, c,
                            heads);
                    kn.linearAttentionDsum(ptr(q), q.stride(1), ptr(s1), ptr(s2), sin, cos, ptr(dOut), dOut.stride(1),
                            ptr(tokenScalars), ptr(dS), b, n, c, heads);
                    kn.linearAttentionDsigma(ptr(dSig), ptr(s1), ptr(s2), ptr(ds1), ptr(ds2), b, heads, d);
                    kn.linearAttentionDkv(ptr(k), k.stride(1), ptr(v), v.stride(1), sin, cos, ptr(dS), ptr(dm), ptr(dk),
                            dk.stride(1), ptr(dv), dv.stride(1), b, n, c, heads);
                    return;
                }
            }
        }
        backend.host.run(op, c -> c.backend().linearAttention().backward(c.in(q), c.in(k), c.in(v), heads, c.in(s1),
                c.in(s2), c.in(rope), c.in(dOut), c.out(dq), c.out(dk), c.out(dv), c.out(ds1), c.out(ds2)));
    }

    /** Reads m back (b·heads·2d floats, small) to see whether any key overflowed. */
    private static boolean finite(Tensor m) {
        for (float x : m.toArray()) if (!Float.isFinite(x)) return false;
        return true;
    }
}
