package dev.polaformer.numerics.cpu;

import static dev.polaformer.numerics.cpu.AttentionProducts.ab;
import static dev.polaformer.numerics.cpu.AttentionProducts.atb;
import static dev.polaformer.numerics.cpu.AttentionProducts.padToTile;
import static dev.polaformer.numerics.cpu.AttentionProducts.padToVector;

import dev.polaformer.numerics.HeapMemory;
import dev.polaformer.numerics.LinearAttention;
import dev.polaformer.numerics.RopeTables;
import dev.polaformer.numerics.Tensor;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicInteger;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The fused polarity-aware linear attention on the CPU (maths in {@link LinearAttention}; the double-precision
 * oracle is {@code reference.AttentionKernels}).
 *
 * <p><b>Structure.</b> Per (batch, head) the work is two passes over the tokens, each in blocks of
 * {@value #BLOCK} tokens whose rows are built in per-thread scratch and multiplied while they sit in L1:
 * <ol>
 *   <li><em>keys</em>: κ = exp([k⁺,k⁻]) − 1, its rotation R, and the block sums Σκ and Rᵀ·[v¹|v²] (one
 *       {@code 2d × d} product holds S1 and S2 side by side). Block sums are float; they are added into
 *       double accumulators, so the reduction over thousands of tokens keeps double accuracy.</li>
 *   <li><em>queries</em>: φsim, φopp, their normalisers z = φ·m + 1e-6 and rotations, then
 *       {@code out_f = rot(φ_f)·S_f / z} as a (block × 2d)·(2d × d/2) product per flow.</li>
 * </ol>
 * The backward recomputes pass 1, then runs a query pass (dq, and the sums dS, dm, dσ) and a second key pass
 * (dk, dv), with the same block products:
 * <pre>
 *   da_f = g_f / z_f          dP_f = da_f·S_fᵀ        dS_f += rot(φ_f)ᵀ·da_f
 *   dz_f = −rot(φ_f)·dP_f / z_f                         (= −g_f·out_f / z_f)
 *   dφ_f = rotᵀ(dP_f) + dz_f·m                          dm += dz_f·φ_f
 *   dR_n = dS·v_n / N         dv_n = dSᵀ·R_n / N        dκ_n = rotᵀ(dR_n) + dm / N
 * </pre>
 *
 * <p><b>Parallelism.</b> Tasks are (batch·head, token chunk). With fewer (batch, head) pairs than twice the
 * threads (batch 1 with one head is the common inference case), the tokens of each pair are split into
 * chunks whose partial sums are reduced between the passes; otherwise a chunk is the whole sequence.
 *
 * <p><b>Layout of the scratch rows.</b> Feature rows (κ, R, φ, rot φ, dP) hold 2d values padded to a vector
 * multiple ({@code ddp}); value rows hold the two halves v¹, v² each padded to a vector multiple
 * ({@code hp}), so each flow's half of S is a vector-aligned column block. Padding lanes stay zero, which the
 * products rely on.
 *
 * <p><b>Overflow.</b> exp(k) overflows float32 above k ≈ 88.7. Instead of testing every key, the kernel
 * checks that m and S are finite after the reduction and only then looks for the offending key, so that the
 * failure names batch, token and head like the reference.
 */
final class CpuLinearAttention implements LinearAttention {
    /** Tokens per block: the float partial sums cover at most this many tokens before going to double. */
    static final int BLOCK = 64;

    private static final VectorSpecies<Float> F = Simd.F;
    private static final int L = Simd.L;
    private static final float Z_EPS = 1e-6f;

    private final HeapMemory memory;
    private final Parallel parallel;
    private final ThreadLocal<Scratch> scratch = ThreadLocal.withInitial(Scratch::new);

    CpuLinearAttention(HeapMemory memory, Parallel parallel) {
        this.memory = memory;
        this.parallel = parallel;
    }

    // ================================================================ forward

    @Override
    public void forward(Tensor q, Tensor k, Tensor v, int heads, Tensor s1, Tensor s2, RopeTables rope, Tensor out) {
        String op = "linearAttention";
        LinearAttention.check(op, q, k, v, heads, s1, s2, rope, out);
        Call g = new Call(op, memory, q, k, v, heads, s1, s2, rope, parallel.threads(), false);
        if (g.n == 0 || g.b == 0) return;
        TokenRows outRows = TokenRows.of(memory, op, out);
        parallel.forEach(g.slots, s -> keyPass(g, s / g.chunks, s % g.chunks));
        reduceKeysOrFail(g);
        parallel.forEach(g.slots, s -> queryForward(g, s / g.chunks, s % g.chunks, outRows));
    }

    // ================================================================ backward

    @Override
    public void backward(Tensor q, Tensor k, Tensor v, int heads, Tensor s1, Tensor s2, RopeTables rope, Tensor dOut,
                         Tensor dq, Tensor dk, Tensor dv, Tensor ds1, Tensor ds2) {
        String op = "linearAttentionBackward";
        LinearAttention.check(op, q, k, v, heads, s1, s2, rope, dOut);
        LinearAttention.check(op, dq, dk, dv, heads, ds1, ds2, rope, dOut);
        Call g = new Call(op, memory, q, k, v, heads, s1, s2, rope, parallel.threads(), true);
        if (g.n == 0 || g.b == 0) return;
        TokenRows gRows = TokenRows.of(memory, op, dOut), dqRows = TokenRows.of(memory, op, dq);
        TokenRows dkRows = TokenRows.of(memory, op, dk), dvRows = TokenRows.of(memory, op, dv);
        parallel.forEach(g.slots, s -> keyPass(g, s / g.chunks, s % g.chunks));
        reduceKeysOrFail(g);
        parallel.forEach(g.slots, s -> queryBackward(g, s / g.chunks, s % g.chunks, gRows, dqRows));
        parallel.forEach(g.pairs, bh -> reduceQueryGradients(g, bh));
        addTemperatureGradients(g, memory.array(op, ds1), ds1.offset(), memory.array(op, ds2), ds2.offset());
        parallel.forEach(g.slots, s -> keyBackward(g, s / g.chunks, s % g.chunks, dkRows, dvRows));
    }

    // ================================================================ pass 1: keys → m, S

    /** κ, m and S = Σ rot(κ)·vᵀ over one chunk of one (batch, head), into its double partial sums. */
    private void keyPass(Call g, int bh, int chunk) {
        Scratch w = scratch.get().fit(g);
        int p = bh / g.heads, h = bh % g.heads;
        int part = (bh * g.chunks + chunk) * g.keyPart;
        Arrays.fill(g.partials, part, part + g.keyPart, 0);
        for (int t0 = g.chunkStart(chunk), end = g.chunkStart(chunk + 1); t0 < end; t0 += BLOCK) {
            int rows = Math.min(BLOCK, end - t0);
            Arrays.fill(w.blockM, 0f);
            keyRows(g, w, p, h, t0, rows, true);
            atb(rows, g.dd, g.wv, w.rk, 0, g.ddp, w.vs, 0, g.wv, w.blockS, 0, g.wv);
            addTo(g.partials, part, w.blockS, g.dd * g.wv);
            addTo(g.partials, part + g.dd * g.wv, w.blockM, g.dd);
        }
    }

    /**
     * Fills, for the tokens {@code [t0, t0+rows)}, the scratch rows κ ({@code kap}), rot(κ) ({@code rk}) and the
     * split values ({@code vs}); with {@code sumKappa}, also adds κ into {@code blockM}.
     *
     * <p>One fused loop per token over the d key channels: each vector of k yields κ⁺ (channels i) and κ⁻
     * (channels d+i) with one exponential, and both are rotated at once (formulas in {@link AttentionRotary}).
     */
    private static void keyRows(Call g, Scratch w, int p, int h, int t0, int rows, boolean sumKappa) {
        int d = g.d, dd = g.dd, ddp = g.ddp, half = g.half, hp = g.hp, wv = g.wv;
        float[] k = g.k.array(), v = g.v.array(), kap = w.kap, rk = w.rk, sum = w.blockM;
        float[] sin = g.tables.sin(), cos = g.tables.cos();
        FloatVector zero = FloatVector.zero(F), sign = FloatVector.fromArray(F, AttentionRotary.PAIR_SIGN, 0);
        for (int t = 0; t < rows; t++) {
            int n = t0 + t, ko = g.k.at(p, n) + h * d, vo = g.v.at(p, n) + h * d, ro = t * ddp;
            int so = g.tables.sinOffset() + n * dd, co = g.tables.cosOffset() + n * dd;
            for (int i = 0; i < d; i += L) {
                VectorMask<Float> m = F.indexInRange(i, d);
                FloatVector kv = FloatVector.fromArray(F, k, ko + i, m);
                FloatVector e = kv.abs().lanewise(VectorOperators.EXPM1);
                FloatVector pos = e.blend(zero, kv.compare(VectorOperators.LT, 0f)), neg = e.sub(pos);
                pos.intoArray(kap, ro + i, m);
                neg.intoArray(kap, ro + d + i, m);
                if (sumKappa) {
                    FloatVector.fromArray(F, sum, i, m).add(pos).intoArray(sum, i, m);
                    FloatVector.fromArray(F, sum, d + i, m).add(neg).intoArray(sum, d + i, m);
                }
                FloatVector ca = FloatVector.fromArray(F, cos, co + i, m), sa = FloatVector.fromArray(F, sin, so + i, m);
                FloatVector cb = FloatVector.fromArray(F, cos, co + d + i, m), sb = FloatVector.fromArray(F, sin, so + d + i, m);
                pos.rearrange(AttentionRotary.SWAP).fma(sa.mul(sign), pos.mul(ca)).intoArray(rk, ro + i, m);
                neg.rearrange(AttentionRotary.SWAP).fma(sb.mul(sign), neg.mul(cb)).intoArray(rk, ro + d + i, m);
            }
            int vr = t * wv;
            for (int j = 0; j < hp; j += L) {
                VectorMask<Float> m = F.indexInRange(j, half);
                FloatVector.fromArray(F, v, vo + j, m).intoArray(w.vs, vr + j);
                FloatVector.fromArray(F, v, vo + half + j, m).intoArray(w.vs, vr + hp + j);
            }
        }
    }

    /**
     * Runs {@link #reduceKeys} for every (batch, head) and fails if a sum overflowed. The exception is raised
     * here, on the calling thread, because one thrown in a pool worker reaches the caller as a copy without
     * its message.
     */
    private void reduceKeysOrFail(Call g) {
        AtomicInteger firstOverflow = new AtomicInteger(Integer.MAX_VALUE);
        parallel.forEach(g.pairs, bh -> {
            if (!reduceKeys(g, bh)) firstOverflow.accumulateAndGet(bh, Math::min);
        });
        int bh = firstOverflow.get();
        if (bh != Integer.MAX_VALUE) throw keyOverflow(g, bh / g.heads, bh % g.heads);
    }

    /**
     * Sums the chunks of one (batch, head), checks the sums are finite and stores the float state the
     * query pass reads: {@code S (dd × wv)}, {@code m (ddp)} and, for the backward, {@code Sᵀ (wv × ddp)}.
     *
     * @return false if a sum is not finite (a key overflowed exp)
     */
    private boolean reduceKeys(Call g, int bh) {
        int dd = g.dd, wv = g.wv, ddp = g.ddp, size = dd * wv;
        double[] sum = scratch.get().fit(g).sums;
        Arrays.fill(sum, 0, g.keyPart, 0);
        for (int c = 0; c < g.chunks; c++) {
            int part = (bh * g.chunks + c) * g.keyPart;
            for (int x = 0; x < g.keyPart; x++) sum[x] += g.partials[part + x];
        }
        for (int x = 0; x < g.keyPart; x++) {
            if (!Double.isFinite(sum[x])) return false;
        }
        double inv = 1.0 / g.n;
        int so = bh * g.stateSize, mo = so + size, to = mo + ddp;
        for (int x = 0; x < size; x++) g.state[so + x] = (float) (sum[x] * inv);
        Arrays.fill(g.state, mo, mo + ddp, 0f);
        for (int i = 0; i < dd; i++) g.state[mo + i] = (float) (sum[size + i] * inv);
        if (g.backward) transpose(g.state, so, dd, wv, g.state, to, ddp);
        return true;
    }

    /** {@code dst[j·ldd + i] = src[so + i·cols + j]}, the padding columns {@code [rows, ldd)} zeroed. */
    private static void transpose(float[] src, int so, int rows, int cols, float[] dst, int to, int ldd) {
        for (int j = 0; j < cols; j++) {
            int o = to + j * ldd;
            for (int i = 0; i < rows; i++) dst[o + i] = src[so + i * cols + j];
            Arrays.fill(dst, o + rows, o + ldd, 0f);
        }
    }

    private static ArithmeticException keyOverflow(Call g, int p, int h) {
        float[] k = g.k.array();
        float largest = 0;
        for (int t = 0; t < g.n; t++) {
            int ko = g.k.at(p, t) + h * g.d;
            for (int i = 0; i < g.d; i++) {
                float x = k[ko + i];
                if (!(Math.abs(x) < MAX_KEY)) {
                    return new ArithmeticException(g.op + ": key " + x + " at batch " + p + ", token " + t + ", head "
                            + h + " makes exp(k) overflow float32 (|k| must stay below " + MAX_KEY + ")");
                }
                largest = Math.max(largest, Math.abs(x));
            }
        }
        return new ArithmeticException(g.op + ": the key features of batch " + p + ", head " + h
                + " overflow float32 in Σ exp(k)·v (largest |k| is " + largest + "; keys this large are out of range)");
    }

    // ================================================================ pass 2: queries → out

    private void queryForward(Call g, int bh, int chunk, TokenRows out) {
        Scratch w = scratch.get().fit(g);
        int p = bh / g.heads, h = bh % g.heads, so = bh * g.stateSize, half = g.half, hp = g.hp, wv = g.wv;
        float[] o = out.array();
        for (int t0 = g.chunkStart(chunk), end = g.chunkStart(chunk + 1); t0 < end; t0 += BLOCK) {
            int rows = Math.min(BLOCK, end - t0), tiles = padToTile(rows);
            queryRows(g, w, p, h, t0, rows, false);
            ab(tiles, g.dd, hp, w.prot[0], 0, g.ddp, g.state, so, wv, w.blockOut, 0, wv);
            ab(tiles, g.dd, hp, w.prot[1], 0, g.ddp, g.state, so + hp, wv, w.blockOut, hp, wv);
            for (int t = 0; t < rows; t++) {
                int oo = out.at(p, t0 + t) + h * g.d, bo = t * wv;
                FloatVector z0 = FloatVector.broadcast(F, w.invZ[0][t]), z1 = FloatVector.broadcast(F, w.invZ[1][t]);
                for (int j = 0; j < half; j += L) {
                    VectorMask<Float> m = F.indexInRange(j, half);
                    FloatVector.fromArray(F, w.blockOut, bo + j).mul(z0).intoArray(o, oo + j, m);
                    FloatVector.fromArray(F, w.blockOut, bo + hp + j).mul(z1).intoArray(o, oo + half + j, m);
                }
            }
        }
    }

    /**
     * Fills, for the tokens {@code [t0, t0+rows)}, the rotated features of both flows ({@code prot}),
     * {@code invZ = 1/(φ·m + 1e-6)} and, with {@code keepPhi} (the backward), the features φsim, φopp themselves
     * ({@code phi}).
     *
     * <p>One fused loop per token over the d query channels. Only one of q⁺, q⁻ is non-zero, so each flow needs
     * one exponential per channel: the temperature of the active half is selected by the sign of q, and the
     * result goes to that half (channel i or d+i; the other gets 0). The two halves are dotted with m and
     * rotated in the same pass.
     */
    private static void queryRows(Call g, Scratch w, int p, int h, int t0, int rows, boolean keepPhi) {
        int d = g.d, dd = g.dd, ddp = g.ddp, so = h * dd, mo = g.stateMOffset(p * g.heads + h);
        float[] q = g.q.array(), sig1 = g.sig[0], sig2 = g.sig[1], state = g.state;
        float[] phi0 = w.phi[0], phi1 = w.phi[1], prot0 = w.prot[0], prot1 = w.prot[1];
        float[] sin = g.tables.sin(), cos = g.tables.cos();
        FloatVector zero = FloatVector.zero(F), sign = FloatVector.fromArray(F, AttentionRotary.PAIR_SIGN, 0);
        for (int t = 0; t < rows; t++) {
            int n = t0 + t, qo = g.q.at(p, n) + h * d, ro = t * ddp;
            int sn = g.tables.sinOffset() + n * dd, cn = g.tables.cosOffset() + n * dd;
            FloatVector z0 = zero, z1 = zero;
            for (int i = 0; i < d; i += L) {
                VectorMask<Float> m = F.indexInRange(i, d);
                FloatVector qv = FloatVector.fromArray(F, q, qo + i, m);
                VectorMask<Float> neg = qv.compare(VectorOperators.LT, 0f);
                FloatVector a = qv.abs();
                FloatVector ma = FloatVector.fromArray(F, state, mo + i, m), mb = FloatVector.fromArray(F, state, mo + d + i, m);
                FloatVector ca = FloatVector.fromArray(F, cos, cn + i, m), cb = FloatVector.fromArray(F, cos, cn + d + i, m);
                FloatVector sa = FloatVector.fromArray(F, sin, sn + i, m).mul(sign);
                FloatVector sb = FloatVector.fromArray(F, sin, sn + d + i, m).mul(sign);
                // sim: [q⁺σ1[:d], q⁻σ1[d:]]
                FloatVector s1a = FloatVector.fromArray(F, sig1, so + i, m), s1b = FloatVector.fromArray(F, sig1, so + d + i, m);
                FloatVector e = a.mul(s1a.blend(s1b, neg)).lanewise(VectorOperators.EXPM1);
                FloatVector first = e.blend(zero, neg), second = e.sub(first);
                z0 = first.fma(ma, second.fma(mb, z0));
                first.rearrange(AttentionRotary.SWAP).fma(sa, first.mul(ca)).intoArray(prot0, ro + i, m);
                second.rearrange(AttentionRotary.SWAP).fma(sb, second.mul(cb)).intoArray(prot0, ro + d + i, m);
                if (keepPhi) {
                    first.intoArray(phi0, ro + i, m);
                    second.intoArray(phi0, ro + d + i, m);
                }
                // opp: [q⁻σ2[:d], q⁺σ2[d:]]
                FloatVector s2a = FloatVector.fromArray(F, sig2, so + i, m), s2b = FloatVector.fromArray(F, sig2, so + d + i, m);
                e = a.mul(s2b.blend(s2a, neg)).lanewise(VectorOperators.EXPM1);
                first = zero.blend(e, neg);
                second = e.sub(first);
                z1 = first.fma(ma, second.fma(mb, z1));
                first.rearrange(AttentionRotary.SWAP).fma(sa, first.mul(ca)).intoArray(prot1, ro + i, m);
                second.rearrange(AttentionRotary.SWAP).fma(sb, second.mul(cb)).intoArray(prot1, ro + d + i, m);
                if (keepPhi) {
                    first.intoArray(phi1, ro + i, m);
                    second.intoArray(phi1, ro + d + i, m);
                }
            }
            w.invZ[0][t] = 1f / (z0.reduceLanes(VectorOperators.ADD) + Z_EPS);
            w.invZ[1][t] = 1f / (z1.reduceLanes(VectorOperators.ADD) + Z_EPS);
        }
    }

    // ================================================================ backward: queries → dq, dS, dm, dσ

    private void queryBackward(Call g, int bh, int chunk, TokenRows dOut, TokenRows dqRows) {
        Scratch w = scratch.get().fit(g);
        int p = bh / g.heads, h = bh % g.heads, d = g.d, dd = g.dd, ddp = g.ddp, half = g.half, hp = g.hp, wv = g.wv;
        int so = bh * g.stateSize, mo = g.stateMOffset(bh), sto = mo + ddp;
        int part = (bh * g.chunks + chunk) * g.queryPart;
        Arrays.fill(g.partials2, part, part + g.queryPart, 0);
        float[] gArr = dOut.array(), state = g.state;
        for (int t0 = g.chunkStart(chunk), end = g.chunkStart(chunk + 1); t0 < end; t0 += BLOCK) {
            int rows = Math.min(BLOCK, end - t0), tiles = padToTile(rows);
            queryRows(g, w, p, h, t0, rows, true);
            // da_f = g_f / z_f, each flow in its vector-aligned half of the row; the padding stays zero.
            for (int t = 0; t < rows; t++) {
                int go = dOut.at(p, t0 + t) + h * d, ro = t * wv;
                for (int j = 0; j < hp; j += L) {
                    VectorMask<Float> m = F.indexInRange(j, half);
                    FloatVector.fromArray(F, gArr, go + j, m).mul(w.invZ[0][t]).intoArray(w.da, ro + j);
                    FloatVector.fromArray(F, gArr, go + half + j, m).mul(w.invZ[1][t]).intoArray(w.da, ro + hp + j);
                }
            }
            for (int f = 0; f < 2; f++) {
                ab(tiles, half, ddp, w.da, f * hp, wv, state, sto + f * hp * ddp, ddp, w.dp[f], 0, ddp);
                atb(rows, dd, hp, w.prot[f], 0, ddp, w.da, f * hp, wv, w.blockS, f * hp, wv);
            }
            addTo(g.partials2, part, w.blockS, dd * wv);
            Arrays.fill(w.blockM, 0f);
            Arrays.fill(w.blockSig, 0f);
            for (int t = 0; t < rows; t++) queryGradient(g, w, p, h, t0 + t, t, mo, dqRows);
            addTo(g.partials2, part + dd * wv, w.blockM, dd);
            addTo(g.partials2, part + dd * wv + dd, w.blockSig, 2 * ddp);
        }
    }

    /**
     * The per-token tail of the query backward for token {@code n} (row {@code t} of the block): dz for both
     * flows, then one fused loop over the d query channels that rotates dP back, adds dz·m, adds dz·φ into the
     * dm sum, and applies the chain rule through φ = exp(x⊙σ) − 1 with x = [q⁺,q⁻] (sim) or [q⁻,q⁺] (opp):
     * g = dφ⊙(φ+1), dσ += g⊙x, dq = ±g⊙σ on the active half.
     */
    private static void queryGradient(Call g, Scratch w, int p, int h, int n, int t, int mo, TokenRows dqRows) {
        int d = g.d, dd = g.dd, ddp = g.ddp, ro = t * ddp, so = h * dd;
        float[] state = g.state, prot0 = w.prot[0], prot1 = w.prot[1], dp0 = w.dp[0], dp1 = w.dp[1];
        FloatVector acc0 = FloatVector.zero(F), acc1 = FloatVector.zero(F);
        for (int i = 0; i < ddp; i += L) {
            acc0 = FloatVector.fromArray(F, prot0, ro + i).fma(FloatVector.fromArray(F, dp0, ro + i), acc0);
            acc1 = FloatVector.fromArray(F, prot1, ro + i).fma(FloatVector.fromArray(F, dp1, ro + i), acc1);
        }
        FloatVector dz0 = FloatVector.broadcast(F, -acc0.reduceLanes(VectorOperators.ADD) * w.invZ[0][t]);
        FloatVector dz1 = FloatVector.broadcast(F, -acc1.reduceLanes(VectorOperators.ADD) * w.invZ[1][t]);
        float[] q = g.q.array(), dq = dqRows.array(), sig1 = g.sig[0], sig2 = g.sig[1];
        float[] phi0 = w.phi[0], phi1 = w.phi[1], dm = w.blockM, dsig = w.blockSig;
        float[] sin = g.tables.sin(), cos = g.tables.cos();
        int sn = g.tables.sinOffset() + n * dd, cn = g.tables.cosOffset() + n * dd;
        int qo = g.q.at(p, n) + h * d, dqo = dqRows.at(p, n) + h * d;
        FloatVector zero = FloatVector.zero(F), one = FloatVector.broadcast(F, 1f);
        FloatVector sign = FloatVector.fromArray(F, AttentionRotary.PAIR_SIGN, 0);
        for (int i = 0; i < d; i += L) {
            VectorMask<Float> m = F.indexInRange(i, d);
            FloatVector ma = FloatVector.fromArray(F, state, mo + i, m), mb = FloatVector.fromArray(F, state, mo + d + i, m);
            FloatVector ca = FloatVector.fromArray(F, cos, cn + i, m), cb = FloatVector.fromArray(F, cos, cn + d + i, m);
            FloatVector sa = FloatVector.fromArray(F, sin, sn + i, m).mul(sign);
            FloatVector sb = FloatVector.fromArray(F, sin, sn + d + i, m).mul(sign);
            // dφ = rotᵀ(dP) + dz·m, per flow and half.
            FloatVector y = FloatVector.fromArray(F, dp0, ro + i, m);
            FloatVector dphiS0 = y.fma(ca, y.mul(sa).rearrange(AttentionRotary.SWAP)).add(dz0.mul(ma));
            y = FloatVector.fromArray(F, dp0, ro + d + i, m);
            FloatVector dphiS1 = y.fma(cb, y.mul(sb).rearrange(AttentionRotary.SWAP)).add(dz0.mul(mb));
            y = FloatVector.fromArray(F, dp1, ro + i, m);
            FloatVector dphiO0 = y.fma(ca, y.mul(sa).rearrange(AttentionRotary.SWAP)).add(dz1.mul(ma));
            y = FloatVector.fromArray(F, dp1, ro + d + i, m);
            FloatVector dphiO1 = y.fma(cb, y.mul(sb).rearrange(AttentionRotary.SWAP)).add(dz1.mul(mb));
            FloatVector phiS0 = FloatVector.fromArray(F, phi0, ro + i, m), phiS1 = FloatVector.fromArray(F, phi0, ro + d + i, m);
            FloatVector phiO0 = FloatVector.fromArray(F, phi1, ro + i, m), phiO1 = FloatVector.fromArray(F, phi1, ro + d + i, m);
            // dm += dz·φ (both flows)
            dz0.fma(phiS0, dz1.fma(phiO0, FloatVector.fromArray(F, dm, i, m))).intoArray(dm, i, m);
            dz0.fma(phiS1, dz1.fma(phiO1, FloatVector.fromArray(F, dm, d + i, m))).intoArray(dm, d + i, m);
            FloatVector gs0 = dphiS0.mul(phiS0.add(one)), gs1 = dphiS1.mul(phiS1.add(one));
            FloatVector go0 = dphiO0.mul(phiO0.add(one)), go1 = dphiO1.mul(phiO1.add(one));
            FloatVector qv = FloatVector.fromArray(F, q, qo + i, m);
            FloatVector qp = qv.max(zero), qn = qv.neg().max(zero);
            gs0.fma(qp, FloatVector.fromArray(F, dsig, i, m)).intoArray(dsig, i, m);
            gs1.fma(qn, FloatVector.fromArray(F, dsig, d + i, m)).intoArray(dsig, d + i, m);
            go0.fma(qn, FloatVector.fromArray(F, dsig, ddp + i, m)).intoArray(dsig, ddp + i, m);
            go1.fma(qp, FloatVector.fromArray(F, dsig, ddp + d + i, m)).intoArray(dsig, ddp + d + i, m);
            FloatVector viaPos = gs0.mul(FloatVector.fromArray(F, sig1, so + i, m))
                    .add(go1.mul(FloatVector.fromArray(F, sig2, so + d + i, m)));
            FloatVector viaNeg = gs1.mul(FloatVector.fromArray(F, sig1, so + d + i, m))
                    .add(go0.mul(FloatVector.fromArray(F, sig2, so + i, m)));
            zero.blend(viaPos, qv.compare(VectorOperators.GT, 0f))
                    .blend(viaNeg.neg(), qv.compare(VectorOperators.LT, 0f))
                    .intoArray(dq, dqo + i, m);
        }
    }

    /**
     * Sums the query-pass partials of one (batch, head) and stores what the key backward reads:
     * {@code dS/N (dd × wv)}, {@code (dS/N)ᵀ (wv × ddp)} and {@code dm/N (ddp)}.
     */
    private void reduceQueryGradients(Call g, int bh) {
        int dd = g.dd, wv = g.wv, ddp = g.ddp, size = dd * wv;
        double[] sum = scratch.get().fit(g).sums;
        Arrays.fill(sum, 0, size + dd, 0);
        for (int c = 0; c < g.chunks; c++) {
            int part = (bh * g.chunks + c) * g.queryPart;
            for (int x = 0; x < size + dd; x++) sum[x] += g.partials2[part + x];
        }
        double inv = 1.0 / g.n;
        int o = bh * g.gradSize, mo = o + size, to = mo + ddp;
        for (int x = 0; x < size; x++) g.grads[o + x] = (float) (sum[x] * inv);
        Arrays.fill(g.grads, mo, mo + ddp, 0f);
        for (int i = 0; i < dd; i++) g.grads[mo + i] = (float) (sum[size + i] * inv);
        transpose(g.grads, o, dd, wv, g.grads, to, ddp);
    }

    /** ds1/ds2 += dσ ⊙ σ(1−σ), summed over the batch and the chunks in double. */
    private static void addTemperatureGradients(Call g, float[] ds1, int o1, float[] ds2, int o2) {
        int dd = g.dd, ddp = g.ddp, sigOff = dd * g.wv + dd;
        double[] total = new double[2 * dd];
        for (int h = 0; h < g.heads; h++) {
            Arrays.fill(total, 0);
            for (int p = 0; p < g.b; p++)
                for (int c = 0; c < g.chunks; c++) {
                    int part = ((p * g.heads + h) * g.chunks + c) * g.queryPart + sigOff;
                    for (int j = 0; j < dd; j++) {
                        total[j] += g.partials2[part + j];
                        total[dd + j] += g.partials2[part + ddp + j];
                    }
                }
            for (int j = 0; j < dd; j++) {
                double a = g.sigDouble[0][h * dd + j], b = g.sigDouble[1][h * dd + j];
                ds1[o1 + h * dd + j] = (float) (ds1[o1 + h * dd + j] + total[j] * a * (1 - a));
                ds2[o2 + h * dd + j] = (float) (ds2[o2 + h * dd + j] + total[dd + j] * b * (1 - b));
            }
        }
    }

    // ================================================================ backward: keys → dk, dv

    private void keyBackward(Call g, int bh, int chunk, TokenRows dkRows, TokenRows dvRows) {
        Scratch w = scratch.get().fit(g);
        int p = bh / g.heads, h = bh % g.heads, d = g.d, dd = g.dd, ddp = g.ddp, half = g.half, hp = g.hp, wv = g.wv;
        int go = bh * g.gradSize, mo = go + dd * wv, to = mo + ddp;
        float[] grads = g.grads, k = g.k.array(), dk = dkRows.array(), dv = dvRows.array(), kap = w.kap, dr = w.dp[0];
        float[] sin = g.tables.sin(), cos = g.tables.cos();
        FloatVector zero = FloatVector.zero(F), one = FloatVector.broadcast(F, 1f);
        FloatVector sign = FloatVector.fromArray(F, AttentionRotary.PAIR_SIGN, 0);
        for (int t0 = g.chunkStart(chunk), end = g.chunkStart(chunk + 1); t0 < end; t0 += BLOCK) {
            int rows = Math.min(BLOCK, end - t0), tiles = padToTile(rows);
            keyRows(g, w, p, h, t0, rows, false);
            ab(tiles, wv, ddp, w.vs, 0, wv, grads, to, ddp, w.dp[0], 0, ddp);   // dR = v·dSᵀ / N
            ab(tiles, dd, wv, w.rk, 0, ddp, grads, go, wv, w.blockOut, 0, wv);  // dv = R·dS / N
            for (int t = 0; t < rows; t++) {
                int n = t0 + t, ro = t * ddp;
                int sn = g.tables.sinOffset() + n * dd, cn = g.tables.cosOffset() + n * dd;
                int ko = g.k.at(p, n) + h * d, dko = dkRows.at(p, n) + h * d;
                // dκ = rotᵀ(dR) + dm/N, then through κ = exp([k⁺,k⁻]) − 1 on the active half.
                for (int i = 0; i < d; i += L) {
                    VectorMask<Float> m = F.indexInRange(i, d);
                    FloatVector ca = FloatVector.fromArray(F, cos, cn + i, m), cb = FloatVector.fromArray(F, cos, cn + d + i, m);
                    FloatVector sa = FloatVector.fromArray(F, sin, sn + i, m).mul(sign);
                    FloatVector sb = FloatVector.fromArray(F, sin, sn + d + i, m).mul(sign);
                    FloatVector y = FloatVector.fromArray(F, dr, ro + i, m);
                    FloatVector gPos = y.fma(ca, y.mul(sa).rearrange(AttentionRotary.SWAP))
                            .add(FloatVector.fromArray(F, grads, mo + i, m))
                            .mul(FloatVector.fromArray(F, kap, ro + i, m).add(one));
                    y = FloatVector.fromArray(F, dr, ro + d + i, m);
                    FloatVector gNeg = y.fma(cb, y.mul(sb).rearrange(AttentionRotary.SWAP))
                            .add(FloatVector.fromArray(F, grads, mo + d + i, m))
                            .mul(FloatVector.fromArray(F, kap, ro + d + i, m).add(one));
                    FloatVector kv = FloatVector.fromArray(F, k, ko + i, m);
                    zero.blend(gPos, kv.compare(VectorOperators.GT, 0f))
                            .blend(gNeg.neg(), kv.compare(VectorOperators.LT, 0f))
                            .intoArray(dk, dko + i, m);
                }
                int dvo = dvRows.at(p, n) + h * d, bo = t * wv;
                for (int j = 0; j < half; j += L) {
                    VectorMask<Float> m = F.indexInRange(j, half);
                    FloatVector.fromArray(F, w.blockOut, bo + j).intoArray(dv, dvo + j, m);
                    FloatVector.fromArray(F, w.blockOut, bo + hp + j).intoArray(dv, dvo + half + j, m);
                }
            }
        }
    }

    // ================================================================ shared pieces

    /** {@code dst[off + x] += src[x]} for {@code x < n}: a float block sum joins its double accumulator. */
    private static void addTo(double[] dst, int off, float[] src, int n) {
        for (int x = 0; x < n; x++) dst[off + x] += src[x];
    }

    /** How many token chunks each (batch, head) is split into: enough for two tasks per thread. */
    static int chunkCount(int pairs, int blocks, int threads) {
        if (threads == 1) return 1;
        int wanted = (2 * threads + pairs - 1) / pairs;
        return Math.max(1, Math.min(blocks, wanted));
    }

    /** Everything one call needs: geometry, tensor rows, the σ tables and the buffers shared by its tasks. */
    private static final class Call {
        final String op;
        final int b, n, heads, d, dd, half, hp, wv, ddp, pairs, blocks, chunks, slots;
        final boolean backward;
        final TokenRows q, k, v;
        final AttentionRotary.Tables tables;
        final float[][] sig;
        final double[][] sigDouble;
        /** Per slot: S (dd × wv) then m (dd). */
        final int keyPart;
        final double[] partials;
        /** Per slot of the backward's query pass: dS (dd × wv), dm (dd), dσ1 (ddp), dσ2 (ddp). */
        final int queryPart;
        final double[] partials2;
        /** Per (batch, head): S/N (dd × wv), m (ddp), and in the backward (S/N)ᵀ (wv × ddp). */
        final int stateSize;
        final float[] state;
        /** Per (batch, head), backward only: dS/N (dd × wv), dm/N (ddp), (dS/N)ᵀ (wv × ddp). */
        final int gradSize;
        final float[] grads;

        Call(String op, HeapMemory memory, Tensor q, Tensor k, Tensor v, int heads, Tensor s1, Tensor s2,
             RopeTables rope, int threads, boolean backward) {
            this.op = op;
            this.backward = backward;
            b = q.dim(0);
            n = q.dim(1);
            this.heads = heads;
            d = q.dim(2) / heads;
            dd = 2 * d;
            half = d / 2;
            hp = padToVector(half);
            wv = 2 * hp;
            ddp = padToVector(dd);
            pairs = b * heads;
            blocks = (n + BLOCK - 1) / BLOCK;
            chunks = chunkCount(pairs, blocks, threads);
            slots = pairs * chunks;
            this.q = TokenRows.of(memory, op, q);
            this.k = TokenRows.of(memory, op, k);
            this.v = TokenRows.of(memory, op, v);
            tables = AttentionRotary.Tables.of(memory, op, rope);
            float[] raw1 = memory.array(op, s1), raw2 = memory.array(op, s2);
            sig = new float[2][heads * dd];
            sigDouble = new double[2][heads * dd];
            for (int x = 0; x < heads * dd; x++) {
                sigDouble[0][x] = 1 / (1 + Math.exp(-raw1[s1.offset() + x]));
                sigDouble[1][x] = 1 / (1 + Math.exp(-raw2[s2.offset() + x]));
                sig[0][x] = (float) sigDouble[0][x];
                sig[1][x] = (float) sigDouble[1][x];
            }
            keyPart = dd * wv + dd;
            partials = new double[slots * keyPart];
            queryPart = backward ? dd * wv + dd + 2 * ddp : 0;
            partials2 = new double[slots * queryPart];
            stateSize = dd * wv + ddp + (backward ? wv * ddp : 0);
            state = new float[pairs * stateSize];
            gradSize = backward ? dd * wv + ddp + wv * ddp : 0;
            grads = new float[pairs * gradSize];
        }

        /** First token of chunk {@code c}; chunks are whole blocks. */
        int chunkStart(int c) {
            return Math.min(n, (int) ((long) c * blocks / chunks) * BLOCK);
        }

        int stateMOffset(int bh) {
            return bh * stateSize + dd * wv;
        }
    }

    /** Per-thread rows of one block, reused across calls while the geometry fits. */
    private static final class Scratch {
        private int d = -1;
        float[] kap, rk, vs, blockS, blockM, blockOut, da, blockSig;
        final float[][] phi = new float[2][], prot = new float[2][], dp = new float[2][];
        final float[][] invZ = {new float[BLOCK], new float[BLOCK]};
        double[] sums;

        /**
         * Sizes the rows for {@code g}. Arrays are zero when created and whenever the row layout changes:
         * padding lanes are never written by the kernels and must read as zero.
         */
        Scratch fit(Call g) {
            if (g.d == d) return this;
            d = g.d;
            int ddp = g.ddp, wv = g.wv;
            int rowsF = BLOCK * ddp + L, rowsV = BLOCK * wv + L;
            kap = new float[rowsF];
            rk = new float[rowsF];
            vs = new float[rowsV];
            da = new float[rowsV];
            blockOut = new float[rowsV];
            blockS = new float[ddp * wv + L];
            blockM = new float[ddp + L];
            blockSig = new float[2 * ddp + L];
            for (int f = 0; f < 2; f++) {
                phi[f] = new float[rowsF];
                prot[f] = new float[rowsF];
                dp[f] = new float[rowsF];
            }
            sums = new double[ddp * wv + 3 * ddp];
            return this;
        }
    }
}
