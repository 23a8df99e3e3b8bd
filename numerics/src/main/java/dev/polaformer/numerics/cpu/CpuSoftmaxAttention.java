package dev.polaformer.numerics.cpu;

import static dev.polaformer.numerics.cpu.AttentionProducts.ab;
import static dev.polaformer.numerics.cpu.AttentionProducts.atb;
import static dev.polaformer.numerics.cpu.AttentionProducts.padToTile;
import static dev.polaformer.numerics.cpu.AttentionProducts.padToVector;
import static dev.polaformer.numerics.cpu.AttentionRotary.rotate;
import static dev.polaformer.numerics.cpu.AttentionRotary.rotateBack;

import dev.polaformer.numerics.HeapMemory;
import dev.polaformer.numerics.RopeTables;
import dev.polaformer.numerics.SoftmaxAttention;
import dev.polaformer.numerics.Tensor;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Softmax attention with RoPE on the CPU (maths in {@link SoftmaxAttention}; oracle in
 * {@code reference.AttentionKernels}).
 *
 * <p>Per (batch, head) the rotated keys are laid out once in scratch, transposed ({@code k̃ᵀ, d × N}) for the
 * scores and, in the backward, also row-major for {@code dq̃}; the values likewise. Queries are then taken in
 * blocks of {@value #BLOCK} rows, rotated with the scale {@code d^−½} folded in, and each block runs
 * <pre>
 *   forward:   P = softmax(q̃s·k̃ᵀ)                      out = P·v
 *   backward:  dP = dOut·vᵀ    dS = P⊙(dP − rowsum(dP⊙P))
 *              dq̃ = d^−½·dS·k̃    dk̃ += dSᵀ·q̃s    dv += Pᵀ·dOut
 * </pre>
 * with the register-tiled products of {@link AttentionProducts}; the block's rows of scores stay in L1/L2.
 * The key-side gradients are sums over all query blocks: each block's float product is added into double
 * accumulators. Row softmax sums are float: a row has N ≤ a few thousand positive terms.
 *
 * <p>Parallelism: the forward runs (batch·head, query range) tasks, splitting the queries only when there are
 * fewer than two (batch, head) pairs per thread; the backward runs one task per (batch, head), because dk and
 * dv sum over all of its queries.
 */
final class CpuSoftmaxAttention implements SoftmaxAttention {
    /** Query rows per block. */
    static final int BLOCK = 64;

    private static final VectorSpecies<Float> F = Simd.F;
    private static final int L = Simd.L;

    private final HeapMemory memory;
    private final Parallel parallel;
    private final ThreadLocal<Scratch> scratch = ThreadLocal.withInitial(Scratch::new);

    CpuSoftmaxAttention(HeapMemory memory, Parallel parallel) {
        this.memory = memory;
        this.parallel = parallel;
    }

    @Override
    public void forward(Tensor q, Tensor k, Tensor v, int heads, RopeTables rope, Tensor out) {
        String op = "softmaxAttention";
        SoftmaxAttention.check(op, q, k, v, heads, rope, out);
        Call g = new Call(op, memory, q, k, v, heads, rope);
        if (g.n == 0) return;
        TokenRows o = TokenRows.of(memory, op, out);
        int blocks = (g.n + BLOCK - 1) / BLOCK;
        int splits = CpuLinearAttention.chunkCount(g.pairs, blocks, parallel.threads());
        parallel.forEach(g.pairs * splits, s -> {
            int first = (int) ((long) (s % splits) * blocks / splits), last = (int) ((long) (s % splits + 1) * blocks / splits);
            forwardRange(g, s / splits, first * BLOCK, Math.min(g.n, last * BLOCK), o);
        });
    }

    private void forwardRange(Call g, int bh, int r0, int r1, TokenRows out) {
        Scratch w = scratch.get().fit(g);
        int p = bh / g.heads, h = bh % g.heads, d = g.d, dp = g.dp, np = g.np;
        layOutKeys(g, w, p, h, false);
        float[] o = out.array();
        for (int t0 = r0; t0 < r1; t0 += BLOCK) {
            int rows = Math.min(BLOCK, r1 - t0), tiles = padToTile(rows);
            weights(g, w, p, h, t0, rows);
            ab(tiles, g.n, dp, w.p, 0, np, w.v, 0, dp, w.rowsOut, 0, dp);
            for (int t = 0; t < rows; t++) {
                int oo = out.at(p, t0 + t) + h * d;
                for (int e = 0; e < d; e += L) {
                    FloatVector.fromArray(F, w.rowsOut, t * dp + e).intoArray(o, oo + e, F.indexInRange(e, d));
                }
            }
        }
    }

    /**
     * Rotated keys transposed ({@code kt}, d × np) and the values ({@code v}, n × dp); for the backward also the
     * rotated keys row-major ({@code kr}) and the values transposed ({@code vt}).
     */
    private static void layOutKeys(Call g, Scratch w, int p, int h, boolean backward) {
        int n = g.n, d = g.d, dp = g.dp, np = g.np;
        float[] k = g.k.array(), v = g.v.array();
        for (int j = 0; j < n; j++) {
            int ko = g.k.at(p, j) + h * d, vo = g.v.at(p, j) + h * d, ro = j * dp;
            rotate(k, ko, g.tables, j, 1f, w.kr, ro);
            for (int e = 0; e < d; e++) w.kt[e * np + j] = w.kr[ro + e];
            for (int e = 0; e < d; e += L) {
                VectorMask<Float> m = F.indexInRange(e, d);
                FloatVector.fromArray(F, v, vo + e, m).intoArray(w.v, ro + e, m);
            }
            if (backward) {
                for (int e = 0; e < d; e++) w.vt[e * np + j] = v[vo + e];
            }
        }
    }

    /**
     * The attention weights of query rows {@code [t0, t0+rows)} into {@code w.p} (rows × np; columns past N are
     * zero), with the rotated, scaled queries left in {@code w.qs}.
     */
    private static void weights(Call g, Scratch w, int p, int h, int t0, int rows) {
        int n = g.n, d = g.d, dp = g.dp, np = g.np;
        float[] q = g.q.array(), pr = w.p;
        for (int t = 0; t < rows; t++) rotate(q, g.q.at(p, t0 + t) + h * d, g.tables, t0 + t, g.scale, w.qs, t * dp);
        ab(padToTile(rows), d, np, w.qs, 0, dp, w.kt, 0, np, pr, 0, np);
        for (int t = 0; t < rows; t++) {
            int ro = t * np;
            FloatVector max = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
            for (int j = 0; j < n; j += L) {
                VectorMask<Float> m = F.indexInRange(j, n);
                max = max.lanewise(VectorOperators.MAX, FloatVector.fromArray(F, pr, ro + j, m), m);
            }
            FloatVector top = FloatVector.broadcast(F, max.reduceLanes(VectorOperators.MAX));
            FloatVector sum = FloatVector.zero(F);
            for (int j = 0; j < n; j += L) {
                VectorMask<Float> m = F.indexInRange(j, n);
                FloatVector e = FloatVector.fromArray(F, pr, ro + j, m).sub(top).lanewise(VectorOperators.EXP);
                e.intoArray(pr, ro + j, m);
                sum = sum.add(e, m);
            }
            float inv = 1f / sum.reduceLanes(VectorOperators.ADD);
            for (int j = 0; j < np; j += L) {
                // Lanes past N load as zero and are stored as zero.
                FloatVector.fromArray(F, pr, ro + j, F.indexInRange(j, n)).mul(inv).intoArray(pr, ro + j);
            }
        }
    }

    @Override
    public void backward(Tensor q, Tensor k, Tensor v, int heads, RopeTables rope, Tensor dOut,
                         Tensor dq, Tensor dk, Tensor dv) {
        String op = "softmaxAttentionBackward";
        SoftmaxAttention.check(op, q, k, v, heads, rope, dOut);
        SoftmaxAttention.check(op, dq, dk, dv, heads, rope, dOut);
        Call g = new Call(op, memory, q, k, v, heads, rope);
        if (g.n == 0) return;
        TokenRows gRows = TokenRows.of(memory, op, dOut), dqRows = TokenRows.of(memory, op, dq);
        TokenRows dkRows = TokenRows.of(memory, op, dk), dvRows = TokenRows.of(memory, op, dv);
        parallel.forEach(g.pairs, bh -> backwardPair(g, bh, gRows, dqRows, dkRows, dvRows));
    }

    private void backwardPair(Call g, int bh, TokenRows dOut, TokenRows dqRows, TokenRows dkRows, TokenRows dvRows) {
        Scratch w = scratch.get().fit(g);
        int p = bh / g.heads, h = bh % g.heads, n = g.n, d = g.d, dp = g.dp, np = g.np, keyTiles = padToTile(n);
        layOutKeys(g, w, p, h, true);
        Arrays.fill(w.dkSum, 0, keyTiles * dp, 0);
        Arrays.fill(w.dvSum, 0, keyTiles * dp, 0);
        float[] gArr = dOut.array(), dq = dqRows.array();
        for (int t0 = 0; t0 < n; t0 += BLOCK) {
            int rows = Math.min(BLOCK, n - t0), tiles = padToTile(rows);
            weights(g, w, p, h, t0, rows);
            for (int t = 0; t < rows; t++) {
                int go = dOut.at(p, t0 + t) + h * d;
                for (int e = 0; e < dp; e += L) {
                    FloatVector.fromArray(F, gArr, go + e, F.indexInRange(e, d)).intoArray(w.dOut, t * dp + e);
                }
            }
            ab(tiles, d, np, w.dOut, 0, dp, w.vt, 0, np, w.ds, 0, np);     // dP = dOut·vᵀ
            for (int t = 0; t < rows; t++) {
                int ro = t * np;
                FloatVector dot = FloatVector.zero(F);
                for (int j = 0; j < n; j += L) {
                    VectorMask<Float> m = F.indexInRange(j, n);
                    dot = FloatVector.fromArray(F, w.ds, ro + j, m).fma(FloatVector.fromArray(F, w.p, ro + j, m), dot);
                }
                FloatVector rowDot = FloatVector.broadcast(F, dot.reduceLanes(VectorOperators.ADD));
                for (int j = 0; j < n; j += L) {
                    VectorMask<Float> m = F.indexInRange(j, n);
                    FloatVector.fromArray(F, w.ds, ro + j, m).sub(rowDot).mul(FloatVector.fromArray(F, w.p, ro + j, m))
                            .intoArray(w.ds, ro + j, m);
                }
            }
            ab(tiles, n, dp, w.ds, 0, np, w.kr, 0, dp, w.rowsOut, 0, dp);  // dq̃ / scale = dS·k̃
            for (int t = 0; t < rows; t++) {
                rotateBack(w.rowsOut, t * dp, g.tables, t0 + t, g.scale, dq, dqRows.at(p, t0 + t) + h * d);
            }
            atb(rows, keyTiles, dp, w.ds, 0, np, w.qs, 0, dp, w.block, 0, dp);     // dk̃ += dSᵀ·q̃s
            addTo(w.dkSum, w.block, keyTiles * dp);
            atb(rows, keyTiles, dp, w.p, 0, np, w.dOut, 0, dp, w.block, 0, dp);     // dv += Pᵀ·dOut
            addTo(w.dvSum, w.block, keyTiles * dp);
        }
        float[] dk = dkRows.array(), dv = dvRows.array();
        for (int j = 0; j < n; j++) {
            int ro = j * dp;
            for (int e = 0; e < d; e++) w.rowsOut[e] = (float) w.dkSum[ro + e];
            rotateBack(w.rowsOut, 0, g.tables, j, 1f, dk, dkRows.at(p, j) + h * d);
            int vo = dvRows.at(p, j) + h * d;
            for (int e = 0; e < d; e++) dv[vo + e] = (float) w.dvSum[ro + e];
        }
    }

    private static void addTo(double[] dst, float[] src, int n) {
        for (int x = 0; x < n; x++) dst[x] += src[x];
    }

    /** Geometry and rows of one call. */
    private static final class Call {
        final int n, heads, d, dp, np, pairs;
        final float scale;
        final TokenRows q, k, v;
        final AttentionRotary.Tables tables;

        Call(String op, HeapMemory memory, Tensor q, Tensor k, Tensor v, int heads, RopeTables rope) {
            n = q.dim(1);
            this.heads = heads;
            d = q.dim(2) / heads;
            dp = padToVector(d);
            np = padToVector(n);
            pairs = q.dim(0) * heads;
            scale = (float) (1 / Math.sqrt(d));
            this.q = TokenRows.of(memory, op, q);
            this.k = TokenRows.of(memory, op, k);
            this.v = TokenRows.of(memory, op, v);
            tables = AttentionRotary.Tables.of(memory, op, rope);
        }
    }

    /**
     * Per-thread scratch, grown to the largest call seen. No padding lane needs to be zero here: every product
     * either reduces over real indices only or writes padding columns that nothing reads, and the softmax rows
     * are masked to N.
     */
    private static final class Scratch {
        private int dp, np, keyTiles;
        float[] kr = new float[0], kt = kr, v = kr, vt = kr, qs = kr, p = kr, ds = kr, dOut = kr, rowsOut = kr, block = kr;
        double[] dkSum = new double[0], dvSum = dkSum;

        Scratch fit(Call g) {
            if (g.dp <= dp && g.np <= np && padToTile(g.n) <= keyTiles) return this;
            dp = Math.max(dp, g.dp);
            np = Math.max(np, g.np);
            keyTiles = Math.max(keyTiles, padToTile(g.n));
            int keys = Math.max(np, keyTiles);
            kr = new float[keys * dp + L];
            v = new float[keys * dp + L];
            kt = new float[dp * np + L];
            vt = new float[dp * np + L];
            qs = new float[BLOCK * dp + L];
            dOut = new float[BLOCK * dp + L];
            rowsOut = new float[Math.max(BLOCK, 1) * dp + L];
            p = new float[BLOCK * np + L];
            ds = new float[BLOCK * np + L];
            block = new float[keys * dp + L];
            dkSum = new double[keys * dp];
            dvSum = new double[keys * dp];
            return this;
        }
    }
}
