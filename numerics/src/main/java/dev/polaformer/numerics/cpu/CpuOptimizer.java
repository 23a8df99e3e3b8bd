package dev.polaformer.numerics.cpu;

import dev.polaformer.numerics.HeapMemory;
import dev.polaformer.numerics.Shapes;
import dev.polaformer.numerics.Tensor;
import jdk.incubator.vector.FloatVector;

/** The optimiser update, one pass over parameter, gradient and both moments. */
final class CpuOptimizer {
    private final HeapMemory memory;
    private final Parallel parallel;

    CpuOptimizer(HeapMemory memory, Parallel parallel) {
        this.memory = memory;
        this.parallel = parallel;
    }

    void adamW(Tensor param, Tensor grad, Tensor m, Tensor v, float lr, float beta1, float beta2, float eps,
               float weightDecay, long step) {
        String op = "adamW";
        for (Tensor t : new Tensor[] {param, grad, m, v}) Shapes.requireContiguous(op, "tensor", t);
        for (Tensor t : new Tensor[] {grad, m, v}) Shapes.requireSameShape(op, "param", param, "state", t);
        float[] p = memory.array(op, param), g = memory.array(op, grad), ma = memory.array(op, m), va = memory.array(op, v);
        int po = param.offset(), go = grad.offset(), mo = m.offset(), vo = v.offset(), n = param.size();
        // PyTorch computes these scalars in double and the tensor arithmetic in float; so do we.
        float decay = (float) (1 - (double) lr * weightDecay);
        float stepSize = (float) (lr / (1 - Math.pow(beta1, step)));
        float c2 = (float) Math.sqrt(1 - Math.pow(beta2, step));
        float b1c = 1 - beta1, b2c = 1 - beta2;
        parallel.forRange(n, 1 << 14, (start, end) -> {
            int i = start;
            for (int bound = start + Simd.F.loopBound(end - start); i < bound; i += Simd.L) {
                var pv = FloatVector.fromArray(Simd.F, p, po + i).mul(decay);
                var gv = FloatVector.fromArray(Simd.F, g, go + i);
                var mv = FloatVector.fromArray(Simd.F, ma, mo + i).mul(beta1).add(gv.mul(b1c));
                var vv = FloatVector.fromArray(Simd.F, va, vo + i).mul(beta2).add(gv.mul(gv).mul(b2c));
                var denom = vv.sqrt().div(c2).add(eps);
                pv.sub(mv.div(denom).mul(stepSize)).intoArray(p, po + i);
                mv.intoArray(ma, mo + i);
                vv.intoArray(va, vo + i);
            }
            for (; i < end; i++) {
                float pi = p[po + i] * decay, gi = g[go + i];
                float mi = ma[mo + i] * beta1 + gi * b1c;
                float vi = va[vo + i] * beta2 + gi * gi * b2c;
                p[po + i] = pi - mi / ((float) Math.sqrt(vi) / c2 + eps) * stepSize;
                ma[mo + i] = mi;
                va[vo + i] = vi;
            }
        });
    }
}
