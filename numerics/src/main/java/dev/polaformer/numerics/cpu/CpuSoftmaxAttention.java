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
 * <p>Rows are copied ({@code System.arraycopy}) into scratch whose rows are padded to whole vectors, so the
 * vector code needs no masks except in the small row-softmax method (see {@link CpuLinearAttention} on why
 * masked Vector API code must stay out of large methods).
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
            int part = s % splits;
            int first = (int) ((long) part * blocks / splits), last = (int) ((long) (part + 1) * blocks / splits);
            forwardRange(g, s / splits, first * BLOCK, Math.min(g.n, last * BLOCK), o);
        });
    }

    private void forwardRange(Call g, int bh, int r0, int r1, TokenRows out) {
        Scratch w = scratch.get().fit(g);
        int p = bh / g.heads, h = bh % g.heads, dp = g.dp, np = g.np;
        layOutKeys(g, w, p, h, false);
        for (int t0 = r0; t0 < r1; t0 += BLOCK) {
            int rows = Math.min(BLOCK, r1 - t0);
            weights(g, w, p, h, t0, rows);
            ab(rows, g.n, dp, w.p, 0, np, w.v, 0, dp, w.rowsOut, 0, dp);
            out.copyOut(p, t0, rows, h * g.d, g.d, w.rowsOut, 0, dp);
        }
    }

    /**
     * Per (batch, head): the table rows of all tokens ({@code tabSin, tabCos}, n × dp), the rotated keys
     * row-major ({@code kr}, n × dp) and transposed ({@code kt}, d × np), the values ({@code v}, n × dp) and, for
     * the backward, the values transposed ({@code vt}, d × np).
     */
    private static void layOutKeys(Call g, Scratch w, int p, int h, boolean backward) {
        int n = g.n, d = g.d, dp = g.dp, np = g.np;
        g.tables.copyRows(0, n, 1, dp, w.tabSin, w.tabCos, dp);
        g.k.copyIn(p, 0, n, h * d, d, w.kr, 0, dp);
        g.v.copyIn(p, 0, n, h * d, d, w.v, 0, dp);
        for (int j = 0; j < n; j++) rotate(w.kr, j * dp, w.tabSin, w.tabCos, j * dp, dp, 1f, w.kr, j * dp);
        transpose(w.kr, n, d, dp, w.kt, np);
        if (backward) transpose(w.v, n, d, dp, w.vt, np);
    }

    /**
     * {@code dst[e·ldd + j] = src[j·lds + e]} for {@code j < rows}, {@code e < cols}; the padding columns
     * {@code [rows, ldd)} of dst are zeroed, so the products that read them (scores, dP) are zero there.
     */
    private static void transpose(float[] src, int rows, int cols, int lds, float[] dst, int ldd) {
        for (int j = 0; j < rows; j++)
            for (int e = 0; e < cols; e++) dst[e * ldd + j] = src[j * lds + e];
        for (int e = 0; e < cols; e++) Arrays.fill(dst, e * ldd + rows, (e + 1) * ldd, 0f);
    }

    /**
     * The attention weights of query rows {@code [t0, t0+rows)} into {@code w.p} (rows × np; columns past N are
     * zero), with the rotated, scaled queries left in {@code w.qs}.
     */
    private static void weights(Call g, Scratch w, int p, int h, int t0, int rows) {
        int dp = g.dp, np = g.np;
        g.q.copyIn(p, t0, rows, h * g.d, g.d, w.qs, 0, dp);
        for (int t = 0; t < rows; t++) {
            rotate(w.qs, t * dp, w.tabSin, w.tabCos, (t0 + t) * dp, dp, g.scale, w.qs, t * dp);
        }
        ab(rows, g.d, np, w.qs, 0, dp, w.kt, 0, np, w.p, 0, np);
        softmaxRows(w.p, rows, g.n, np, w.lanes);
    }

    /**
     * Row-wise softmax over the first {@code n} of {@code np} columns; the rest are set to zero. The sum of the
     * exponentials goes through {@code lanes} (L floats): after the inlined exponential this method is near C2's
     * inlining budget, and a call that passed the sum as a vector would box it.
     */
    private static void softmaxRows(float[] pr, int rows, int n, int np, float[] lanes) {
        for (int t = 0; t < rows; t++) {
            int ro = t * np;
            FloatVector minusInfinity = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY), max = minusInfinity;
            for (int j = 0; j < n; j += L) {
                VectorMask<Float> m = F.indexInRange(j, n);
                max = max.lanewise(VectorOperators.MAX, FloatVector.fromArray(F, pr, ro + j), m);
            }
            FloatVector top = FloatVector.broadcast(F, max.reduceLanes(VectorOperators.MAX));
            FloatVector sum = FloatVector.zero(F);
            for (int j = 0; j < np; j += L) {
                // Lanes past N become exp(−∞) = 0.
                FloatVector x = minusInfinity.blend(FloatVector.fromArray(F, pr, ro + j), F.indexInRange(j, n));
                FloatVector e = VectorMath.exp(x.sub(top));
                e.intoArray(pr, ro + j);
                sum = sum.add(e);
            }
            sum.intoArray(lanes, 0);
            float inv = 1f / VectorMath.sum(lanes, 0);
            for (int j = 0; j < np; j += L) FloatVector.fromArray(F, pr, ro + j).mul(inv).intoArray(pr, ro + j);
        }
    }

    /** {@code dS = P⊙(dP − rowsum(dP⊙P))} in place of dP; P is zero past column N, so dS is too. */
    private static void softmaxGradientRows(float[] pr, float[] ds, int rows, int np) {
        for (int t = 0; t < rows; t++) {
            int ro = t * np;
            FloatVector dot = FloatVector.zero(F);
            for (int j = 0; j < np; j += L) {
                dot = FloatVector.fromArray(F, ds, ro + j).fma(FloatVector.fromArray(F, pr, ro + j), dot);
            }
            FloatVector rowDot = FloatVector.broadcast(F, VectorMath.sum(dot));
            for (int j = 0; j < np; j += L) {
                FloatVector.fromArray(F, ds, ro + j).sub(rowDot).mul(FloatVector.fromArray(F, pr, ro + j))
                        .intoArray(ds, ro + j);
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
        for (int t0 = 0; t0 < n; t0 += BLOCK) {
            int rows = Math.min(BLOCK, n - t0);
            weights(g, w, p, h, t0, rows);
            dOut.copyIn(p, t0, rows, h * d, d, w.dOut, 0, dp);
            ab(rows, d, np, w.dOut, 0, dp, w.vt, 0, np, w.ds, 0, np);          // dP = dOut·vᵀ
            softmaxGradientRows(w.p, w.ds, rows, np);
            ab(rows, n, dp, w.ds, 0, np, w.kr, 0, dp, w.rowsOut, 0, dp);       // dq̃ / scale = dS·k̃
            for (int t = 0; t < rows; t++) {
                rotateBack(w.rowsOut, t * dp, w.tabSin, w.tabCos, (t0 + t) * dp, dp, g.scale, w.rowsOut, t * dp);
            }
            dqRows.copyOut(p, t0, rows, h * d, d, w.rowsOut, 0, dp);
            atb(rows, keyTiles, dp, w.ds, 0, np, w.qs, 0, dp, w.block, 0, dp);    // dk̃ += dSᵀ·q̃s
            addTo(w.dkSum, w.block, keyTiles * dp);
            atb(rows, keyTiles, dp, w.p, 0, np, w.dOut, 0, dp, w.block, 0, dp);    // dv += Pᵀ·dOut
            addTo(w.dvSum, w.block, keyTiles * dp);
        }
        for (int x = 0; x < n * dp; x++) w.block[x] = (float) w.dkSum[x];
        for (int j = 0; j < n; j++) rotateBack(w.block, j * dp, w.tabSin, w.tabCos, j * dp, dp, 1f, w.block, j * dp);
        dkRows.copyOut(p, 0, n, h * d, d, w.block, 0, dp);
        for (int x = 0; x < n * dp; x++) w.block[x] = (float) w.dvSum[x];
        dvRows.copyOut(p, 0, n, h * d, d, w.block, 0, dp);
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
     * Per-thread scratch, grown to the largest call seen. Padding lanes may hold anything from an earlier call:
     * every product either reduces over real indices only or writes padding columns that nothing reads, and the
     * softmax rows are masked to N. The one exception, the padding columns of the transposed keys and values
     * (they make the scores' and dP's padding columns, which the row loops read), is zeroed by {@code transpose}.
     */
    private static final class Scratch {
        private int dp, np, keyRows;
        float[] tabSin = new float[0], tabCos = tabSin, kr = tabSin, kt = tabSin, v = tabSin, vt = tabSin;
        float[] qs = tabSin, p = tabSin, ds = tabSin, dOut = tabSin, rowsOut = tabSin, block = tabSin;
        double[] dkSum = new double[0], dvSum = dkSum;
        final float[] lanes = new float[L];

        Scratch fit(Call g) {
            int keys = Math.max(g.np, padToTile(g.n));
            if (g.dp <= dp && g.np <= np && keys <= keyRows) return this;
            dp = Math.max(dp, g.dp);
            np = Math.max(np, g.np);
            keyRows = Math.max(keyRows, keys);
            tabSin = new float[keyRows * dp];
            tabCos = new float[keyRows * dp];
            kr = new float[keyRows * dp];
            v = new float[keyRows * dp];
            block = new float[keyRows * dp];
            kt = new float[dp * np];
            vt = new float[dp * np];
            qs = new float[BLOCK * dp];
            dOut = new float[BLOCK * dp];
            rowsOut = new float[BLOCK * dp];
            p = new float[BLOCK * np];
            ds = new float[BLOCK * np];
            dkSum = new double[keyRows * dp];
            dvSum = new double[keyRows * dp];
            return this;
        }
    }
}
