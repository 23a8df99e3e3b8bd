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
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * The fused polarity-aware linear attention on the CPU (maths in {@link LinearAttention}; the double-precision
 * oracle is {@code reference.AttentionKernels}).
 *
 * <p><b>Structure.</b> Per (batch, head) the work is two passes over the tokens, each in blocks of
 * {@value #BLOCK} tokens whose rows are built in per-thread scratch and multiplied while they sit in L1:
 * <ol>
 *   <li><em>keys</em>: κ = exp([k⁺,k⁻]) − 1, its rotation R, and the block sums Σκ and Rᵀ·[v¹|v²] (one
 *       product holds S1 and S2 side by side). Block sums are float; they are added into double accumulators,
 *       so the reduction over thousands of tokens keeps double accuracy.</li>
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
 * <p><b>Parallelism.</b> With at least twice as many (batch, head) pairs as threads, one task per pair runs
 * all its passes back to back, so the pair's rows of the projection are still in cache for the second pass
 * (at batch 8 and 3136 tokens the projection is 13 MB; running all key passes before all query passes was
 * twice as slow). With fewer pairs (batch 1 with one head is the common inference case), the tokens of each
 * pair are split into chunks and each pass runs over all (pair, chunk) tasks; a task of the next pass first
 * sums its pair's chunk partials itself (cheaper than a separate reduction phase, which would cost another
 * wake-up of the pool).
 *
 * <p><b>Scratch layout.</b> Rows are laid out so that every vector operation is a whole, unmasked vector: a
 * feature row (κ, R, φ, rot φ, dP, the table rows) holds its two halves (channels {@code [0,d)} and
 * {@code [d,2d)}) at offsets 0 and {@code dp}, each padded to a vector multiple; a value row holds v¹ and v²
 * at offsets 0 and {@code hp}. When d/2 is a multiple of the vector length (all model sizes) the tensors' rows
 * already have this layout and are used in place; otherwise each block is first copied into padded
 * per-thread scratch. Padding lanes are zero and stay zero through every step, which the products and dot
 * products rely on.
 *
 * <p><b>Why no masks in the hot methods.</b> C1 expands each masked Vector API call into a large amount of IR;
 * a method with a few dozen of them fails to compile at tier 3 ("out of virtual registers") and then never
 * reaches C2, so it runs the Vector API boxed, 10–20× slower, for the rest of the run (seen on JDK 25 in one
 * start out of two or three). The copies in and out are {@code System.arraycopy}; the vector methods are kept
 * to a size C1 accepts.
 *
 * <p><b>exp(x) − 1</b> comes from {@link VectorMath#expm1}, which is accurate near 0 and, unlike the Vector
 * API's EXP and EXPM1, gives the same bits in every JIT tier (see {@link VectorMath}).
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
    private static final VectorShuffle<Float> SWAP = AttentionRotary.SWAP;
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
        try {
            forward(g, out);
        } finally {
            g.release();
        }
    }

    private void forward(Call g, Tensor out) {
        String op = g.op;
        if (g.n == 0 || g.b == 0) return;
        TokenRows outRows = TokenRows.of(memory, op, out);
        if (g.chunks == 1) {
            // One task per (batch, head) runs both passes back to back, while its rows are still in cache; its
            // sums and state live in the worker's scratch.
            AtomicInteger overflow = new AtomicInteger(Integer.MAX_VALUE);
            parallel.forEach(g.pairs, bh -> {
                Scratch w = scratch.get().fit(g);
                keyPass(g, w, bh, 0, w.pairSums, 0);
                if (reduceKeys(g, w, w.pairSums, 0, w.pairState, 0)) queryForward(g, w, bh, 0, w.pairState, 0, outRows);
                else overflow.accumulateAndGet(bh, Math::min);
            });
            checkOverflow(g, overflow);
            return;
        }
        // Token chunks: each query task sums its pair's key chunks itself (a few thousand adds) rather than
        // waiting for a separate reduction phase; every phase costs a wake-up of the pool.
        int chunks = g.chunks, keyPart = g.keyPart;
        parallel.forEach(g.slots, s -> keyPass(g, scratch.get().fit(g), s / chunks, s % chunks, g.sums, s * keyPart));
        AtomicInteger overflow = new AtomicInteger(Integer.MAX_VALUE);
        parallel.forEach(g.slots, s -> {
            Scratch w = scratch.get().fit(g);
            int bh = s / chunks;
            if (reduceKeys(g, w, g.sums, bh * chunks * keyPart, w.pairState, 0)) {
                queryForward(g, w, bh, s % chunks, w.pairState, 0, outRows);
            } else {
                overflow.accumulateAndGet(bh, Math::min);
            }
        });
        checkOverflow(g, overflow);
    }

    /**
     * Throws for the first (batch, head) whose key sums overflowed, and clears the mark: as a loop of its own,
     * so that a recorded forward ({@link Parallel#record}) checks on every replay.
     */
    private void checkOverflow(Call g, AtomicInteger overflow) {
        parallel.forEachHere(1, i -> failOnOverflow(g, overflow.getAndSet(Integer.MAX_VALUE)));
    }

    // ================================================================ backward

    @Override
    public void backward(Tensor q, Tensor k, Tensor v, int heads, Tensor s1, Tensor s2, RopeTables rope, Tensor dOut,
                         Tensor dq, Tensor dk, Tensor dv, Tensor ds1, Tensor ds2) {
        String op = "linearAttentionBackward";
        LinearAttention.check(op, q, k, v, heads, s1, s2, rope, dOut);
        LinearAttention.check(op, dq, dk, dv, heads, ds1, ds2, rope, dOut);
        Call g = new Call(op, memory, q, k, v, heads, s1, s2, rope, parallel.threads(), true);
        try {
            backward(g, dOut, dq, dk, dv, ds1, ds2);
        } finally {
            g.release();
        }
    }

    private void backward(Call g, Tensor dOut, Tensor dq, Tensor dk, Tensor dv, Tensor ds1, Tensor ds2) {
        String op = g.op;
        if (g.n == 0 || g.b == 0) return;
        TokenRows gRows = TokenRows.of(memory, op, dOut), dqRows = TokenRows.of(memory, op, dq);
        TokenRows dkRows = TokenRows.of(memory, op, dk), dvRows = TokenRows.of(memory, op, dv);
        if (g.chunks == 1) {
            AtomicInteger overflow = new AtomicInteger(Integer.MAX_VALUE);
            parallel.forEach(g.pairs, bh -> {
                Scratch w = scratch.get().fit(g);
                keyPass(g, w, bh, 0, w.pairSums, 0);
                if (!reduceKeys(g, w, w.pairSums, 0, w.pairState, 0)) {
                    overflow.accumulateAndGet(bh, Math::min);
                    return;
                }
                queryBackward(g, w, bh, 0, w.pairState, 0, w.pairSums, 0, gRows, dqRows);
                reduceQueryGradients(g, w, w.pairSums, 0, w.pairGrads, 0);
                keyBackward(g, w, bh, 0, w.pairGrads, 0, dkRows, dvRows);
            });
            failOnOverflow(g, overflow.get());
        } else {
            // Token chunks, three phases; each task sums its pair's chunks of the previous phase itself.
            int keyPart = g.keyPart, queryPart = g.queryPart, chunks = g.chunks;
            parallel.forEach(g.slots, s -> keyPass(g, scratch.get().fit(g), s / chunks, s % chunks, g.sums, s * keyPart));
            AtomicInteger overflow = new AtomicInteger(Integer.MAX_VALUE);
            parallel.forEach(g.slots, s -> {
                Scratch w = scratch.get().fit(g);
                int bh = s / chunks;
                if (reduceKeys(g, w, g.sums, bh * chunks * keyPart, w.pairState, 0)) {
                    queryBackward(g, w, bh, s % chunks, w.pairState, 0, g.querySums, s * queryPart, gRows, dqRows);
                } else {
                    overflow.accumulateAndGet(bh, Math::min);
                }
            });
            failOnOverflow(g, overflow.get());
            parallel.forEach(g.slots, s -> {
                Scratch w = scratch.get().fit(g);
                int bh = s / chunks;
                reduceQueryGradients(g, w, g.querySums, bh * chunks * queryPart, w.pairGrads, 0);
                keyBackward(g, w, bh, s % chunks, w.pairGrads, 0, dkRows, dvRows);
            });
        }
        addTemperatureGradients(g, memory.array(op, ds1), ds1.offset(), memory.array(op, ds2), ds2.offset());
    }

    // ================================================================ pass 1: keys → m, S

    /** κ, m and S = Σ rot(κ)·vᵀ over one chunk of one (batch, head), into its double partial sums. */
    private static void keyPass(Call g, Scratch w, int bh, int chunk, double[] sums, int part) {
        int p = bh / g.heads, h = bh % g.heads, fw = g.fw, wv = g.wv;
        Arrays.fill(sums, part, part + g.keyPart, 0);
        for (int t0 = g.chunkStart(chunk), end = g.chunkStart(chunk + 1); t0 < end; t0 += BLOCK) {
            int rows = Math.min(BLOCK, end - t0);
            RowBlock k = g.keys(w, p, h, t0, rows), v = g.values(w, p, h, t0, rows);
            TableBlock tab = g.tableRows(w, t0, rows);
            Arrays.fill(w.blockM, 0f);
            keyFeatures(k, tab, rows, g.dp, true, w.kap, w.rk, w.blockM);
            atb(rows, fw, wv, w.rk, 0, fw, v.array(), v.offset(), v.stride(), w.blockS, 0, wv);
            addTo(sums, part, w.blockS, fw * wv);
            addTo(sums, part + fw * wv, w.blockM, fw);
        }
    }

    /**
     * κ = exp([k⁺,k⁻]) − 1 and its rotation for {@code rows} key rows: one exponential per channel gives κ⁺
     * (first half) and κ⁻ (second half). With {@code sum}, κ is added into {@code m}.
     */
    private static void keyFeatures(RowBlock keys, TableBlock tab, int rows, int dp, boolean sum,
                                    float[] kap, float[] rk, float[] m) {
        keyExponentials(keys, rows, dp, sum, kap, m);
        rotateRows(kap, tab, rows, 2 * dp, rk);
    }

    /** κ of {@link #keyFeatures}, and with {@code sum} its sum into m. */
    private static void keyExponentials(RowBlock keys, int rows, int dp, boolean sum, float[] kap, float[] m) {
        int fw = 2 * dp, kld = keys.stride();
        float[] k = keys.array();
        FloatVector zero = FloatVector.zero(F);
        for (int t = 0; t < rows; t++) {
            int ko = keys.offset() + t * kld, ro = t * fw;
            for (int i = 0; i < dp; i += L) {
                FloatVector kv = FloatVector.fromArray(F, k, ko + i);
                FloatVector e = VectorMath.expm1(kv.abs());
                FloatVector pos = e.blend(zero, kv.compare(VectorOperators.LT, 0f)), neg = e.sub(pos);
                pos.intoArray(kap, ro + i);
                neg.intoArray(kap, ro + dp + i);
                if (sum) {
                    FloatVector.fromArray(F, m, i).add(pos).intoArray(m, i);
                    FloatVector.fromArray(F, m, dp + i).add(neg).intoArray(m, dp + i);
                }
            }
        }
    }

    /**
     * {@code out} row t = the rotation of feature row t ({@code fw} values: both padded halves) by the block's table
     * row t. A pass of its own rather than fused into the exponentials: a kernel with an exponential and a
     * rotation in one loop outgrew C2's inlining budget (NodeCountInliningCutoff), and the helpers it could no
     * longer inline passed boxed vectors, an allocation per vector.
     */
    private static void rotateRows(float[] x, TableBlock tab, int rows, int fw, float[] out) {
        float[] sin = tab.sin(), cos = tab.cos();
        FloatVector sign = FloatVector.fromArray(F, AttentionRotary.PAIR_SIGN, 0);
        for (int t = 0; t < rows; t++) {
            int ro = t * fw, sn = tab.sinOffset() + ro, cn = tab.cosOffset() + ro;
            for (int i = 0; i < fw; i += L) {
                FloatVector xv = FloatVector.fromArray(F, x, ro + i);
                FloatVector s = FloatVector.fromArray(F, sin, sn + i).mul(sign);
                xv.rearrange(SWAP).fma(s, xv.mul(FloatVector.fromArray(F, cos, cn + i))).intoArray(out, ro + i);
            }
        }
    }

    /** Throws for the first (batch, head) whose key sums overflowed, if any ({@code Integer.MAX_VALUE}: none). */
    private static void failOnOverflow(Call g, int bh) {
        if (bh != Integer.MAX_VALUE) throw keyOverflow(g, bh / g.heads, bh % g.heads);
    }

    /**
     * Sums the chunks of one (batch, head) (at {@code part}, {@code keyPart} apart), checks that the means are
     * finite in float and stores the float state the query pass reads: {@code S/N (fw × wv)}, {@code m (fw)} and, for the backward,
     * {@code (S/N)ᵀ (wv × fw)}.
     *
     * @return false if a sum is not finite (a key overflowed exp)
     */
    private static boolean reduceKeys(Call g, Scratch w, double[] sums, int part, float[] state, int so) {
        int fw = g.fw, wv = g.wv, size = fw * wv;
        double[] sum = w.total;
        Arrays.fill(sum, 0, g.keyPart, 0);
        for (int c = 0; c < g.chunks; c++) {
            for (int x = 0, o = part + c * g.keyPart; x < g.keyPart; x++) sum[x] += sums[o + x];
        }
        double inv = 1.0 / g.n;
        for (int x = 0; x < size + fw; x++) {
            float mean = (float) (sum[x] * inv);
            if (!Float.isFinite(mean)) return false;
            state[so + x] = mean;
        }
        if (g.backward) transpose(state, so, fw, wv, state, so + size + fw);
        return true;
    }

    /** {@code dst[to + j·rows + i] = src[so + i·cols + j]}. */
    private static void transpose(float[] src, int so, int rows, int cols, float[] dst, int to) {
        for (int j = 0; j < cols; j++)
            for (int i = 0; i < rows; i++) dst[to + j * rows + i] = src[so + i * cols + j];
    }

    private static ArithmeticException keyOverflow(Call g, int p, int h) {
        float[] k = g.k.array();
        float largest = 0;
        for (int t = 0; t < g.n; t++) {
            int ko = g.k.at(p, t) + h * g.d;
            for (int i = 0; i < g.d; i++) {
                float x = k[ko + i];
                if (!(Math.abs(x) < MAX_KEY)) {
                    return LinearAttention.badKey(g.op, x, p, t, h);
                }
                largest = Math.max(largest, Math.abs(x));
            }
        }
        return new ArithmeticException(g.op + ": the key features of batch " + p + ", head " + h
                + " overflow float32 in Σ exp(k)·v (largest |k| is " + largest + "; keys this large are out of range)");
    }

    // ================================================================ pass 2: queries → out

    private static void queryForward(Call g, Scratch w, int bh, int chunk, float[] state, int so, TokenRows out) {
        int p = bh / g.heads, h = bh % g.heads, fw = g.fw, hp = g.hp, wv = g.wv;
        for (int t0 = g.chunkStart(chunk), end = g.chunkStart(chunk + 1); t0 < end; t0 += BLOCK) {
            int rows = Math.min(BLOCK, end - t0);
            queryRows(g, w, p, h, t0, rows, state, so + fw * wv);
            for (int f = 0; f < 2; f++) {
                ab(rows, fw, hp, w.prot[f], 0, fw, state, so + f * hp, wv, w.rowsV, f * hp, wv);
            }
            if (g.aligned) {
                scaleHalves(w.rowsV, 0, wv, rows, hp, w.invZ[0], w.invZ[1], out.array(), out.at(p, t0) + h * g.d,
                        out.tokenStride());
            } else {
                scaleHalves(w.rowsV, 0, wv, rows, hp, w.invZ[0], w.invZ[1], w.rowsV, 0, wv);
                out.copyOut(p, t0, rows, h * g.d, g.half, w.rowsV, 0, wv);
                out.copyOut(p, t0, rows, h * g.d + g.half, g.half, w.rowsV, hp, wv);
            }
        }
    }

    /**
     * For the tokens {@code [t0, t0+rows)}, per flow: the features ({@code phi}), the rotated features
     * ({@code prot}) and {@code invZ = 1/(φ·m + 1e-6)} with m at {@code m[mo..]}.
     *
     * @return the query rows used (for the backward's chain rule)
     */
    private static RowBlock queryRows(Call g, Scratch w, int p, int h, int t0, int rows, float[] m, int mo) {
        RowBlock q = g.queries(w, p, h, t0, rows);
        TableBlock tab = g.tableRows(w, t0, rows);
        queryFeatures(q, tab, rows, g.dp, g.sig[0], g.sig[1], h * g.fw, m, mo, w);
        return q;
    }

    /**
     * Both flows' features for {@code rows} query rows: sim is exp([q⁺σ1[:d], q⁻σ1[d:]]) − 1, opp is
     * exp([q⁻σ2[:d], q⁺σ2[d:]]) − 1. Only one of q⁺, q⁻ is non-zero, so one exponential per channel and flow
     * suffices: the temperature of the active half is chosen by the sign of q and the result goes to that half.
     * The features are dotted with m as they are made, then rotated ({@link #rotateRows}); one flow at a time,
     * for the same reason as there. The features stay in {@code w.phi} (the backward uses them).
     */
    private static void queryFeatures(RowBlock queries, TableBlock tab, int rows, int dp, float[] sig1, float[] sig2,
                                      int so, float[] m, int mo, Scratch w) {
        for (int f = 0; f < 2; f++) {
            queryExponentials(queries, rows, dp, f == 0 ? sig1 : sig2, so, f == 1, m, mo, w.phi[f], w.zLanes);
            for (int t = 0; t < rows; t++) w.invZ[f][t] = 1f / (VectorMath.sum(w.zLanes, t * L) + Z_EPS);
            rotateRows(w.phi[f], tab, rows, 2 * dp, w.prot[f]);
        }
    }

    /**
     * One flow's features of {@link #queryFeatures} into {@code phi}: sim ({@code opposite} false: the first half
     * is active where q > 0) or opp (the first half is active where q < 0); and the lanes of φ·m, row t's at
     * {@code zLanes[t·L..]}. (Summed by the caller: after an exponential, this method is near C2's inlining budget,
     * and a call that passed a vector would box it.)
     */
    private static void queryExponentials(RowBlock queries, int rows, int dp, float[] sig, int so, boolean opposite,
                                          float[] m, int mo, float[] phi, float[] zLanes) {
        int fw = 2 * dp, qld = queries.stride();
        float[] q = queries.array();
        // the temperature of a channel whose q is positive, and of one whose q is negative
        int sigPos = so + (opposite ? dp : 0), sigNeg = so + (opposite ? 0 : dp);
        FloatVector zero = FloatVector.zero(F);
        for (int t = 0; t < rows; t++) {
            int qo = queries.offset() + t * qld, ro = t * fw;
            FloatVector z = zero;
            for (int i = 0; i < dp; i += L) {
                FloatVector qv = FloatVector.fromArray(F, q, qo + i);
                VectorMask<Float> neg = qv.compare(VectorOperators.LT, 0f);
                FloatVector sigma = FloatVector.fromArray(F, sig, sigPos + i).blend(FloatVector.fromArray(F, sig, sigNeg + i), neg);
                FloatVector e = VectorMath.expm1(qv.abs().mul(sigma));
                FloatVector first = opposite ? zero.blend(e, neg) : e.blend(zero, neg), second = e.sub(first);
                z = first.fma(FloatVector.fromArray(F, m, mo + i), second.fma(FloatVector.fromArray(F, m, mo + dp + i), z));
                first.intoArray(phi, ro + i);
                second.intoArray(phi, ro + dp + i);
            }
            z.intoArray(zLanes, t * L);
        }
    }

    /**
     * {@code dst} row t = {@code src} row t with its first {@code hp} values times {@code s0[t]} and the next
     * {@code hp} times {@code s1[t]}. {@code dst} may be {@code src}.
     */
    private static void scaleHalves(float[] src, int so, int sld, int rows, int hp, float[] s0, float[] s1,
                                    float[] dst, int dO, int dld) {
        for (int t = 0; t < rows; t++) {
            int a = so + t * sld, b = dO + t * dld;
            for (int j = 0; j < hp; j += L) {
                FloatVector.fromArray(F, src, a + j).mul(s0[t]).intoArray(dst, b + j);
                FloatVector.fromArray(F, src, a + hp + j).mul(s1[t]).intoArray(dst, b + hp + j);
            }
        }
    }

    // ================================================================ backward: queries → dq, dS, dm, dσ

    private static void queryBackward(Call g, Scratch w, int bh, int chunk, float[] state, int so, double[] sums,
                                      int part, TokenRows dOut, TokenRows dqRows) {
        int p = bh / g.heads, h = bh % g.heads, d = g.d, dp = g.dp, fw = g.fw, hp = g.hp, wv = g.wv;
        int mo = so + fw * wv, sto = mo + fw, sigPart = (bh * g.chunks + chunk) * 2 * fw;
        Arrays.fill(sums, part, part + g.queryPart, 0);
        Arrays.fill(g.sigSums, sigPart, sigPart + 2 * fw, 0);
        for (int t0 = g.chunkStart(chunk), end = g.chunkStart(chunk + 1); t0 < end; t0 += BLOCK) {
            int rows = Math.min(BLOCK, end - t0);
            RowBlock q = queryRows(g, w, p, h, t0, rows, state, mo);
            TableBlock tab = g.tableRows(w, t0, rows);
            // da_f = g_f / z_f, each flow in its vector-aligned half of the row.
            RowBlock up = g.upstream(w, dOut, p, h, t0, rows);
            scaleHalves(up.array(), up.offset(), up.stride(), rows, hp, w.invZ[0], w.invZ[1], w.da, 0, wv);
            for (int f = 0; f < 2; f++) {
                ab(rows, hp, fw, w.da, f * hp, wv, state, sto + f * hp * fw, fw, w.dp[f], 0, fw);
                atb(rows, fw, hp, w.prot[f], 0, fw, w.da, f * hp, wv, w.blockS, f * hp, wv);
            }
            addTo(sums, part, w.blockS, fw * wv);
            Arrays.fill(w.blockM, 0f);
            Arrays.fill(w.blockSig, 0f);
            for (int f = 0; f < 2; f++) {
                flowGradient(q, tab, rows, dp, f == 1, state, mo, w.phi[f], w.prot[f], w.dp[f], w.invZ[f],
                        w.blockM, w.blockSig, f * fw);
            }
            if (g.aligned) {
                queryInputGradient(q, rows, dp, g.sig[0], g.sig[1], h * fw, w.dp[0], w.dp[1],
                        dqRows.array(), dqRows.at(p, t0) + h * d, dqRows.tokenStride());
            } else {
                queryInputGradient(q, rows, dp, g.sig[0], g.sig[1], h * fw, w.dp[0], w.dp[1], w.x, 0, dp);
                dqRows.copyOut(p, t0, rows, h * d, d, w.x, 0, dp);
            }
            addTo(sums, part + fw * wv, w.blockM, fw);
            addTo(g.sigSums, sigPart, w.blockSig, 2 * fw);
        }
    }

    /**
     * One flow's backward through the normaliser, the rotation and the exponential, for {@code rows} tokens:
     * <pre>
     *   dz = −rot(φ)·dP / z      dφ = rotᵀ(dP) + dz·m      dm += dz·φ      g = dφ⊙(φ+1)      dσ += g⊙x
     * </pre>
     * with x = [q⁺,q⁻] (sim) or [q⁻,q⁺] (opp). {@code dP} is overwritten with {@code g}.
     */
    private static void flowGradient(RowBlock queries, TableBlock tab, int rows, int dp, boolean opposite,
                                     float[] m, int mo, float[] phi, float[] prot, float[] dP, float[] invZ,
                                     float[] dm, float[] dsig, int sigOff) {
        int fw = 2 * dp, qld = queries.stride();
        float[] q = queries.array(), sin = tab.sin(), cos = tab.cos();
        FloatVector zero = FloatVector.zero(F), one = FloatVector.broadcast(F, 1f);
        FloatVector sign = FloatVector.fromArray(F, AttentionRotary.PAIR_SIGN, 0);
        for (int t = 0; t < rows; t++) {
            int ro = t * fw, sn = tab.sinOffset() + ro, cn = tab.cosOffset() + ro;
            FloatVector acc = zero;
            for (int i = 0; i < fw; i += L) {
                acc = FloatVector.fromArray(F, prot, ro + i).fma(FloatVector.fromArray(F, dP, ro + i), acc);
            }
            FloatVector dz = FloatVector.broadcast(F, -VectorMath.sum(acc) * invZ[t]);
            for (int i = 0; i < fw; i += L) {
                int a = ro + i;
                FloatVector y = FloatVector.fromArray(F, dP, a), f = FloatVector.fromArray(F, phi, a);
                FloatVector s = FloatVector.fromArray(F, sin, sn + i).mul(sign);
                FloatVector dphi = y.fma(FloatVector.fromArray(F, cos, cn + i), y.mul(s).rearrange(SWAP))
                        .add(dz.mul(FloatVector.fromArray(F, m, mo + i)));
                dz.fma(f, FloatVector.fromArray(F, dm, i)).intoArray(dm, i);
                dphi.mul(f.add(one)).intoArray(dP, a);
            }
            int qo = queries.offset() + t * qld;
            for (int i = 0; i < dp; i += L) {
                FloatVector qv = FloatVector.fromArray(F, q, qo + i);
                FloatVector qp = qv.max(zero), qn = qv.neg().max(zero);
                FloatVector x0 = opposite ? qn : qp, x1 = opposite ? qp : qn;
                int a = sigOff + i, b = sigOff + dp + i;
                FloatVector.fromArray(F, dP, ro + i).fma(x0, FloatVector.fromArray(F, dsig, a)).intoArray(dsig, a);
                FloatVector.fromArray(F, dP, ro + dp + i).fma(x1, FloatVector.fromArray(F, dsig, b)).intoArray(dsig, b);
            }
        }
    }

    /**
     * dq from the two flows' {@code g = dφ⊙(φ+1)} ({@code gs}, {@code go}): on q > 0 the active halves are sim's
     * first and opp's second, on q < 0 sim's second and opp's first. Written to {@code dq} rows (may be the
     * query rows themselves).
     */
    private static void queryInputGradient(RowBlock queries, int rows, int dp, float[] sig1, float[] sig2, int so,
                                           float[] gs, float[] go, float[] dq, int dqo, int dqld) {
        int fw = 2 * dp, qld = queries.stride();
        float[] q = queries.array();
        FloatVector zero = FloatVector.zero(F);
        for (int t = 0; t < rows; t++) {
            int qo = queries.offset() + t * qld, ro = t * fw, o = dqo + t * dqld;
            for (int i = 0; i < dp; i += L) {
                FloatVector qv = FloatVector.fromArray(F, q, qo + i);
                FloatVector viaPos = FloatVector.fromArray(F, gs, ro + i).mul(FloatVector.fromArray(F, sig1, so + i))
                        .add(FloatVector.fromArray(F, go, ro + dp + i).mul(FloatVector.fromArray(F, sig2, so + dp + i)));
                FloatVector viaNeg = FloatVector.fromArray(F, gs, ro + dp + i).mul(FloatVector.fromArray(F, sig1, so + dp + i))
                        .add(FloatVector.fromArray(F, go, ro + i).mul(FloatVector.fromArray(F, sig2, so + i)));
                zero.blend(viaPos, qv.compare(VectorOperators.GT, 0f))
                        .blend(viaNeg.neg(), qv.compare(VectorOperators.LT, 0f))
                        .intoArray(dq, o + i);
            }
        }
    }

    /**
     * Sums the query-pass partials of one (batch, head) (at {@code part}, {@code queryPart} apart) and stores what
     * the key backward reads:
     * {@code dS/N (fw × wv)}, {@code dm/N (fw)} and {@code (dS/N)ᵀ (wv × fw)}.
     */
    private static void reduceQueryGradients(Call g, Scratch w, double[] sums, int part, float[] grads, int o) {
        int fw = g.fw, wv = g.wv, size = fw * wv;
        double[] sum = w.total;
        Arrays.fill(sum, 0, size + fw, 0);
        for (int c = 0; c < g.chunks; c++) {
            for (int x = 0, po = part + c * g.queryPart; x < size + fw; x++) sum[x] += sums[po + x];
        }
        double inv = 1.0 / g.n;
        for (int x = 0; x < size + fw; x++) grads[o + x] = (float) (sum[x] * inv);
        transpose(grads, o, fw, wv, grads, o + size + fw);
    }

    /** ds1/ds2 += dσ ⊙ σ(1−σ), summed over the batch and the chunks in double. */
    private static void addTemperatureGradients(Call g, float[] ds1, int o1, float[] ds2, int o2) {
        int d = g.d, dd = 2 * d, dp = g.dp, fw = g.fw;
        double[] total = new double[2 * fw];
        for (int h = 0; h < g.heads; h++) {
            Arrays.fill(total, 0);
            for (int p = 0; p < g.b; p++)
                for (int c = 0; c < g.chunks; c++) {
                    int part = ((p * g.heads + h) * g.chunks + c) * 2 * fw;
                    for (int j = 0; j < 2 * fw; j++) total[j] += g.sigSums[part + j];
                }
            for (int j = 0; j < dd; j++) {
                int padded = j < d ? j : dp + j - d;
                double a = g.sigDouble[0][h * dd + j], b = g.sigDouble[1][h * dd + j];
                ds1[o1 + h * dd + j] = (float) (ds1[o1 + h * dd + j] + total[padded] * a * (1 - a));
                ds2[o2 + h * dd + j] = (float) (ds2[o2 + h * dd + j] + total[fw + padded] * b * (1 - b));
            }
        }
    }

    // ================================================================ backward: keys → dk, dv

    private static void keyBackward(Call g, Scratch w, int bh, int chunk, float[] grads, int go, TokenRows dkRows,
                                    TokenRows dvRows) {
        int p = bh / g.heads, h = bh % g.heads, d = g.d, dp = g.dp, fw = g.fw, hp = g.hp, wv = g.wv;
        int mo = go + fw * wv, to = mo + fw;
        for (int t0 = g.chunkStart(chunk), end = g.chunkStart(chunk + 1); t0 < end; t0 += BLOCK) {
            int rows = Math.min(BLOCK, end - t0);
            RowBlock k = g.keys(w, p, h, t0, rows), v = g.values(w, p, h, t0, rows);
            TableBlock tab = g.tableRows(w, t0, rows);
            keyFeatures(k, tab, rows, dp, false, w.kap, w.rk, null);
            ab(rows, wv, fw, v.array(), v.offset(), v.stride(), grads, to, fw, w.dp[0], 0, fw);   // dR = v·dSᵀ / N
            ab(rows, fw, wv, w.rk, 0, fw, grads, go, wv, w.rowsV, 0, wv);                          // dv = R·dS / N
            if (g.aligned) {
                keyInputGradient(k, tab, rows, dp, grads, mo, w.kap, w.dp[0],
                        dkRows.array(), dkRows.at(p, t0) + h * d, dkRows.tokenStride());
                dvRows.copyOut(p, t0, rows, h * d, d, w.rowsV, 0, wv);
            } else {
                keyInputGradient(k, tab, rows, dp, grads, mo, w.kap, w.dp[0], w.x, 0, dp);
                dkRows.copyOut(p, t0, rows, h * d, d, w.x, 0, dp);
                dvRows.copyOut(p, t0, rows, h * d, g.half, w.rowsV, 0, wv);
                dvRows.copyOut(p, t0, rows, h * d + g.half, g.half, w.rowsV, hp, wv);
            }
        }
    }

    /**
     * dk for {@code rows} tokens: dκ = rotᵀ(dR) + dm/N, then through κ = exp([k⁺,k⁻]) − 1 on the active half.
     * {@code dR} is overwritten with dκ⊙(κ+1); dk goes to {@code dk} rows (may be the key rows themselves).
     */
    private static void keyInputGradient(RowBlock keys, TableBlock tab, int rows, int dp, float[] dmN, int mo,
                                         float[] kap, float[] dR, float[] dk, int dko, int dkld) {
        int fw = 2 * dp, kld = keys.stride();
        float[] k = keys.array(), sin = tab.sin(), cos = tab.cos();
        FloatVector zero = FloatVector.zero(F), one = FloatVector.broadcast(F, 1f);
        FloatVector sign = FloatVector.fromArray(F, AttentionRotary.PAIR_SIGN, 0);
        for (int t = 0; t < rows; t++) {
            int ro = t * fw, sn = tab.sinOffset() + ro, cn = tab.cosOffset() + ro;
            for (int i = 0; i < fw; i += L) {
                int a = ro + i;
                FloatVector y = FloatVector.fromArray(F, dR, a);
                FloatVector s = FloatVector.fromArray(F, sin, sn + i).mul(sign);
                y.fma(FloatVector.fromArray(F, cos, cn + i), y.mul(s).rearrange(SWAP))
                        .add(FloatVector.fromArray(F, dmN, mo + i))
                        .mul(FloatVector.fromArray(F, kap, a).add(one))
                        .intoArray(dR, a);
            }
            int ko = keys.offset() + t * kld, o = dko + t * dkld;
            for (int i = 0; i < dp; i += L) {
                FloatVector kv = FloatVector.fromArray(F, k, ko + i);
                zero.blend(FloatVector.fromArray(F, dR, ro + i), kv.compare(VectorOperators.GT, 0f))
                        .blend(FloatVector.fromArray(F, dR, ro + dp + i).neg(), kv.compare(VectorOperators.LT, 0f))
                        .intoArray(dk, o + i);
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
        final int b, n, heads, d, half, dp, fw, hp, wv, pairs, blocks, chunks, slots;
        final boolean backward;
        /**
         * Whether d/2 is a multiple of the vector length (every model size): then the tensors' rows already have
         * the scratch layout and are read and written in place instead of copied.
         */
        final boolean aligned;
        final TokenRows q, k, v;
        final AttentionRotary.Tables tables;
        /**
         * σ(s1), σ(s2) per head in the padded feature layout ({@code heads × fw}); and (backward only) unpadded, in
         * double.
         */
        final float[][] sig;
        final double[][] sigDouble;
        /** Sizes of a slot's key sums (S (fw × wv), m (fw)) and query sums (dS (fw × wv), dm (fw)), in doubles. */
        final int keyPart, queryPart;
        /**
         * Token-chunked calls only: every slot's key sums and (backward) query sums, read by all the chunks of the
         * pair in the next phase. (A call with one task per pair keeps its sums in the worker's scratch.)
         */
        final double[] sums, querySums;
        /** Backward: per slot, the block-summed dσ1, dσ2 (fw each), reduced over the batch at the end. */
        final double[] sigSums;

        Call(String op, HeapMemory memory, Tensor q, Tensor k, Tensor v, int heads, Tensor s1, Tensor s2,
             RopeTables rope, int threads, boolean backward) {
            this.op = op;
            this.backward = backward;
            b = q.dim(0);
            n = q.dim(1);
            this.heads = heads;
            d = q.dim(2) / heads;
            half = d / 2;
            dp = padToVector(d);
            fw = 2 * dp;
            hp = padToVector(half);
            wv = 2 * hp;
            aligned = hp == half;
            pairs = b * heads;
            blocks = (n + BLOCK - 1) / BLOCK;
            chunks = chunkCount(pairs, blocks, threads);
            slots = pairs * chunks;
            this.q = TokenRows.of(memory, op, q);
            this.k = TokenRows.of(memory, op, k);
            this.v = TokenRows.of(memory, op, v);
            tables = AttentionRotary.Tables.of(memory, op, rope);
            int dd = 2 * d;
            float[] raw1 = memory.array(op, s1), raw2 = memory.array(op, s2);
            sig = new float[2][heads * fw];
            sigDouble = backward ? new double[2][heads * dd] : null;  // only the temperature gradients read it
            for (int h = 0; h < heads; h++)
                for (int j = 0; j < dd; j++) {
                    int padded = h * fw + (j < d ? j : dp + j - d);
                    double a = 1 / (1 + Math.exp(-raw1[s1.offset() + h * dd + j]));
                    double c = 1 / (1 + Math.exp(-raw2[s2.offset() + h * dd + j]));
                    if (backward) {
                        sigDouble[0][h * dd + j] = a;
                        sigDouble[1][h * dd + j] = c;
                    }
                    sig[0][padded] = (float) a;
                    sig[1][padded] = (float) c;
                }
            keyPart = fw * wv + fw;
            queryPart = fw * wv + fw;
            boolean shared = chunks > 1;
            // pooled: a forward at batch 1 would otherwise allocate tens of KiB of sums per call
            sums = shared ? dev.polaformer.numerics.cpu.Scratch.takeDoubles(slots * keyPart) : NONE;
            querySums = shared && backward ? dev.polaformer.numerics.cpu.Scratch.takeDoubles(slots * queryPart) : NONE;
            sigSums = backward ? dev.polaformer.numerics.cpu.Scratch.takeDoubles(slots * 2 * fw) : NONE;
        }

        private static final double[] NONE = {};

        /** Hands the pooled sums back; the call is over. */
        void release() {
            give(sums);
            give(querySums);
            give(sigSums);
        }

        private static void give(double[] a) {
            if (a.length > 0) dev.polaformer.numerics.cpu.Scratch.give(a);
        }

        /** First token of chunk {@code c}; chunks are whole blocks. */
        int chunkStart(int c) {
            return Math.min(n, (int) ((long) c * blocks / chunks) * BLOCK);
        }

        RowBlock keys(Scratch w, int p, int h, int t0, int rows) {
            return rowsOf(k, w, w.keyRows, p, h, t0, rows);
        }

        RowBlock queries(Scratch w, int p, int h, int t0, int rows) {
            return rowsOf(q, w, w.queryRows, p, h, t0, rows);
        }

        /** d channels per row at vector-aligned offsets: the tensor rows themselves, or a padded copy in {@code x}. */
        private RowBlock rowsOf(TokenRows t, Scratch w, RowBlock into, int p, int h, int t0, int rows) {
            if (aligned) return into.set(t.array(), t.at(p, t0) + h * d, t.tokenStride());
            t.copyIn(p, t0, rows, h * d, d, w.x, 0, dp);
            return into.set(w.x, 0, dp);
        }

        RowBlock values(Scratch w, int p, int h, int t0, int rows) {
            return halvesOf(v, w.vs, w.valueRows, p, h, t0, rows);
        }

        RowBlock upstream(Scratch w, TokenRows dOut, int p, int h, int t0, int rows) {
            return halvesOf(dOut, w.da, w.upstreamRows, p, h, t0, rows);
        }

        /** The two halves of each row at offsets 0 and hp: the tensor rows themselves, or a padded copy. */
        private RowBlock halvesOf(TokenRows t, float[] scratch, RowBlock into, int p, int h, int t0, int rows) {
            if (aligned) return into.set(t.array(), t.at(p, t0) + h * d, t.tokenStride());
            t.copyIn(p, t0, rows, h * d, half, scratch, 0, wv);
            t.copyIn(p, t0, rows, h * d + half, half, scratch, hp, wv);
            return into.set(scratch, 0, wv);
        }

        /** The table rows of tokens {@code [t0, t0+rows)}, rows {@code fw} apart, halves at 0 and dp. */
        TableBlock tableRows(Scratch w, int t0, int rows) {
            if (aligned) {
                return w.tableRows.set(tables.sin(), tables.sinOffset() + t0 * fw, tables.cos(),
                        tables.cosOffset() + t0 * fw);
            }
            tables.copyRows(t0, rows, 2, dp, w.sin, w.cos, fw);
            return w.tableRows.set(w.sin, 0, w.cos, 0);
        }
    }

    /**
     * A block of rows: row t starts at {@code array[offset + t·stride]}. Mutable, one per role in each worker's
     * {@link Scratch}, set for each block: records made per block were a tenth of a b0 forward's heap allocation.
     */
    private static final class RowBlock {
        private float[] array;
        private int offset, stride;

        RowBlock set(float[] array, int offset, int stride) {
            this.array = array;
            this.offset = offset;
            this.stride = stride;
            return this;
        }

        float[] array() { return array; }
        int offset() { return offset; }
        int stride() { return stride; }
    }

    /** A block of table rows, {@code fw} apart; mutable and kept per worker, as {@link RowBlock}. */
    private static final class TableBlock {
        private float[] sin, cos;
        private int sinOffset, cosOffset;

        TableBlock set(float[] sin, int sinOffset, float[] cos, int cosOffset) {
            this.sin = sin;
            this.sinOffset = sinOffset;
            this.cos = cos;
            this.cosOffset = cosOffset;
            return this;
        }

        float[] sin() { return sin; }
        int sinOffset() { return sinOffset; }
        float[] cos() { return cos; }
        int cosOffset() { return cosOffset; }
    }

    /**
     * Per-thread rows of one block, reused across calls while the head size stays the same. Arrays are
     * replaced (zero) when it changes: padding lanes are never written with anything but zero.
     */
    private static final class Scratch {
        private int d = -1;
        float[] x, sin, cos, kap, rk, vs, da, rowsV, blockS, blockM, blockSig;
        final RowBlock keyRows = new RowBlock(), valueRows = new RowBlock(), queryRows = new RowBlock(),
                upstreamRows = new RowBlock();
        final TableBlock tableRows = new TableBlock();
        final float[][] phi = new float[2][], prot = new float[2][], dp = new float[2][];
        final float[][] invZ = {new float[BLOCK], new float[BLOCK]};
        /** Per-row lane sums of z, before they are added across the lanes. */
        final float[] zLanes = new float[BLOCK * L];
        /**
         * One pair's sums (when a task owns a whole (batch, head)), the pair's state S/N, m, (S/N)ᵀ and gradient
         * state dS/N, dm/N, (dS/N)ᵀ, and {@code total}, a reduction's sum.
         */
        double[] pairSums, total;
        float[] pairState, pairGrads;

        Scratch fit(Call g) {
            if (g.d == d) return this;
            d = g.d;
            int fw = g.fw, wv = g.wv, featureRows = BLOCK * fw, valueRows = BLOCK * wv;
            x = new float[BLOCK * g.dp];
            sin = new float[featureRows];
            cos = new float[featureRows];
            kap = new float[featureRows];
            rk = new float[featureRows];
            vs = new float[valueRows];
            da = new float[valueRows];
            rowsV = new float[valueRows];
            blockS = new float[fw * wv];
            blockM = new float[fw];
            blockSig = new float[2 * fw];
            for (int f = 0; f < 2; f++) {
                phi[f] = new float[featureRows];
                prot[f] = new float[featureRows];
                dp[f] = new float[featureRows];
            }
            pairSums = new double[fw * wv + fw];
            total = new double[fw * wv + fw];
            pairState = new float[2 * fw * wv + fw];
            pairGrads = new float[2 * fw * wv + fw];
            return this;
        }
    }
}
