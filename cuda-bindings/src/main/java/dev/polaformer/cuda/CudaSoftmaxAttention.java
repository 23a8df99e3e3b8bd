package dev.polaformer.cuda;

import dev.polaformer.numerics.RopeTables;
import dev.polaformer.numerics.SoftmaxAttention;
import dev.polaformer.numerics.Tensor;

import static dev.polaformer.cuda.CudaBackend.ptr;

/**
 * The softmax attention core on the device: the flash-style kernels of {@code attention_softmax.cu}. The backward
 * recomputes the forward to get each row's log-sum-exp (the SPI keeps no state between calls), then runs the
 * query and the key/value passes. Checked by {@link SoftmaxAttention#check}, as on the CPU; layouts the kernels do
 * not take, head widths above {@value CudaKernels#MAX_HEAD_DIM}, and builds without these kernels use the host
 * fallback.
 */
final class CudaSoftmaxAttention implements SoftmaxAttention {
    private static final String[] KERNELS = {"pf_softmax_attention_forward_d32", "pf_softmax_attention_forward_d64",
        "pf_softmax_attention_backward_dq_d32", "pf_softmax_attention_backward_dq_d64",
        "pf_softmax_attention_backward_dkv_d32", "pf_softmax_attention_backward_dkv_d64"};

    private final CudaBackend backend;

    CudaSoftmaxAttention(CudaBackend backend) {
        this.backend = backend;
    }

    private boolean onDevice(int heads, RopeTables rope, Tensor... rows) {
        for (Tensor t : rows) if (!backend.rowsOnDevice(t)) return false;
        if (rope == null || !backend.onDevice(rope.sin(), rope.cos()) || heads <= 0) return false;
        int c = rows[0].dim(2);
        return rows[0].dim(0) > 0 && rows[0].dim(1) > 0 && c % heads == 0 && c / heads <= CudaKernels.MAX_HEAD_DIM && backend.hasKernels(KERNELS);
    }

    @Override
    public void forward(Tensor q, Tensor k, Tensor v, int heads, RopeTables rope, Tensor out) {
        String op = "softmaxAttention";
        if (onDevice(heads, rope, q, k, v, out)) {
            SoftmaxAttention.check(op, q, k, v, heads, rope, out);
            backend.kernels().softmaxAttentionForward(ptr(q), q.stride(1), ptr(k), k.stride(1), ptr(v), v.stride(1),
                    ptr(rope.sin()), ptr(rope.cos()), ptr(out), out.stride(1), java.lang.foreign.MemorySegment.NULL,
                    q.dim(0), q.dim(1), q.dim(2), heads);
            return;
        }
        backend.host.run(op, c -> c.backend().softmaxAttention().forward(c.in(q), c.in(k), c.in(v), heads, c.in(rope),
                c.out(out)));
    }

    @Override
    public void backward(Tensor q, Tensor k, Tensor v, int heads, RopeTables rope, Tensor dOut,
                         Tensor dq, Tensor dk, Tensor dv) {
        String op = "softmaxAttentionBackward";
        if (onDevice(heads, rope, q, k, v, dOut, dq, dk, dv)) {
            SoftmaxAttention.check(op, q, k, v, heads, rope, dOut);
            SoftmaxAttention.check(op, dq, dk, dv, heads, rope, dOut);
            int b = q.dim(0), n = q.dim(1), c = q.dim(2);
            try (Tensor out = backend.empty(b, n, c); Tensor lse = backend.empty(b, heads, n);
                 Tensor delta = backend.empty(b, heads, n)) {
                CudaKernels kn = backend.kernels();
                var sin = ptr(rope.sin());
                var cos = ptr(rope.cos());
                kn.softmaxAttentionForward(ptr(q), q.stride(1), ptr(k), k.stride(1), ptr(v), v.stride(1), sin, cos,
                        ptr(out), c, ptr(lse), b, n, c, heads);
                kn.softmaxAttentionBackwardDq(ptr(q), q.stride(1), ptr(k), k.stride(1), ptr(v), v.stride(1), sin, cos,
                        ptr(out), c, ptr(lse), ptr(dOut), dOut.stride(1), ptr(dq), dq.stride(1), ptr(delta), b, n, c, heads);
                kn.softmaxAttentionBackwardDkv(ptr(q), q.stride(1), ptr(k), k.stride(1), ptr(v), v.stride(1), sin, cos,
                        ptr(lse), ptr(delta), ptr(dOut), dOut.stride(1), ptr(dk), dk.stride(1), ptr(dv), dv.stride(1),
                        b, n, c, heads);
            }
            return;
        }
        backend.host.run(op, c -> c.backend().softmaxAttention().backward(c.in(q), c.in(k), c.in(v), heads, c.in(rope),
                c.in(dOut), c.out(dq), c.out(dk), c.out(dv)));
    }
}
