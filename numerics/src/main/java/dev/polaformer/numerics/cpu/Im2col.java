package dev.polaformer.numerics.cpu;

import dev.polaformer.numerics.ConvGeometry;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;

import static dev.polaformer.numerics.cpu.Simd.F;
import static dev.polaformer.numerics.cpu.Simd.L;

/**
 * The patch matrix of a channels-last convolution and its transpose.
 *
 * <p>Row {@code p} of the patch matrix is output pixel {@code p = (n·Ho + oh)·Wo + ow}; its {@code K = kh·kw·Cin}
 * columns are the input values under the kernel in {@code (i, j, ci)} order, zero where the kernel hangs over the
 * padding. In channels-last memory the {@code kw·Cin} values of one kernel row are one contiguous run of
 * {@code x} (whatever the stride: consecutive {@code j} are consecutive input columns), so a patch row is
 * {@code kh} array copies. Callers fill a block of consecutive rows {@code [p0, p1)} at a time, so the matrix is
 * never held whole.
 *
 * <p>{@link #addBack} is the transpose (col2im) as a <em>gather</em>: each input row {@code (n, ih)} sums the
 * patch-gradient entries that read it. One task owns one input row, so the parallel version needs no atomics.
 */
final class Im2col {
    private Im2col() {}

    /** Fills {@code patches[0..(p1−p0)·K)} with patch rows {@code p0..p1} of {@code x}. */
    static void fill(Parallel parallel, ConvGeometry g, float[] x, int xOff, int p0, int p1, float[] patches) {
        int k = g.kh() * g.kw() * g.cin();
        parallel.forRange(p1 - p0, Math.max(1, 8192 / Math.max(1, k)), (r0, r1) -> {
            for (int r = r0; r < r1; r++) fillRow(g, x, xOff, p0 + r, patches, r * k);
        });
    }

    private static void fillRow(ConvGeometry g, float[] x, int xOff, int p, float[] patches, int dst) {
        int cin = g.cin(), kw = g.kw(), s = g.stride(), pad = g.padding();
        int ow = p % g.wo(), t = p / g.wo(), oh = t % g.ho(), n = t / g.ho();
        int iw0 = ow * s - pad;
        int jlo = Math.max(0, -iw0), jhi = Math.min(kw, g.w() - iw0);
        int rowLen = kw * cin;
        for (int i = 0; i < g.kh(); i++, dst += rowLen) {
            int ih = oh * s - pad + i;
            if (ih < 0 || ih >= g.h() || jhi <= jlo) {
                java.util.Arrays.fill(patches, dst, dst + rowLen, 0f);
                continue;
            }
            if (jlo > 0) java.util.Arrays.fill(patches, dst, dst + jlo * cin, 0f);
            System.arraycopy(x, xOff + ((n * g.h() + ih) * g.w() + iw0 + jlo) * cin, patches, dst + jlo * cin,
                    (jhi - jlo) * cin);
            if (jhi < kw) java.util.Arrays.fill(patches, dst + jhi * cin, dst + rowLen, 0f);
        }
    }

    /**
     * {@code dx += col2im(dPatches)} for the patch rows of output rows {@code q0..q1} ({@code q = n·Ho + oh}),
     * whose gradient is {@code dPatches[0..(q1−q0)·Wo·K)}.
     */
    static void addBack(Parallel parallel, ConvGeometry g, float[] dPatches, int q0, int q1, float[] dx, int dxOff) {
        int ho = g.ho(), s = g.stride(), pad = g.padding();
        int nFirst = q0 / ho, nLast = (q1 - 1) / ho;
        // the input rows this block of output rows reaches, image by image
        int[] rowStart = new int[nLast - nFirst + 2];
        int[] lo = new int[nLast - nFirst + 1], hi = new int[nLast - nFirst + 1];
        for (int n = nFirst; n <= nLast; n++) {
            int ohA = Math.max(q0 - n * ho, 0), ohB = Math.min(q1 - n * ho, ho);
            int a = Math.max(0, ohA * s - pad), b = Math.min(g.h(), (ohB - 1) * s - pad + g.kh());
            lo[n - nFirst] = a;
            hi[n - nFirst] = Math.max(a, b);
            rowStart[n - nFirst + 1] = rowStart[n - nFirst] + hi[n - nFirst] - a;
        }
        int tasks = rowStart[rowStart.length - 1];
        parallel.forEach(tasks, task -> {
            int m = 0;
            while (rowStart[m + 1] <= task) m++;
            int n = nFirst + m, ih = lo[m] + task - rowStart[m];
            addBackRow(g, dPatches, q0, q1, n, ih, dx, dxOff);
        });
    }

    private static void addBackRow(ConvGeometry g, float[] dPatches, int q0, int q1, int n, int ih, float[] dx,
                                   int dxOff) {
        int cin = g.cin(), kh = g.kh(), kw = g.kw(), s = g.stride(), pad = g.padding(), wo = g.wo();
        int k = kh * kw * cin;
        int rowBase = dxOff + (n * g.h() + ih) * g.w() * cin;
        for (int i = 0; i < kh; i++) {
            int t = ih + pad - i;
            if (t < 0 || t % s != 0) continue;
            int q = n * g.ho() + t / s;
            if (t / s >= g.ho() || q < q0 || q >= q1) continue;
            int patchRow0 = (q - q0) * wo;
            for (int iw = 0; iw < g.w(); iw++) {
                int dst = rowBase + iw * cin;
                for (int j = 0; j < kw; j++) {
                    int u = iw + pad - j;
                    if (u < 0 || u % s != 0 || u / s >= wo) continue;
                    int src = (patchRow0 + u / s) * k + (i * kw + j) * cin;
                    addInto(dPatches, src, dx, dst, cin);
                }
            }
        }
    }

    /** {@code dst[do..do+n) += src[so..so+n)}. */
    static void addInto(float[] src, int so, float[] dst, int d0, int n) {
        for (int c = 0; c < n; c += L) {
            VectorMask<Float> m = F.indexInRange(c, n);
            FloatVector.fromArray(F, src, so + c, m).add(FloatVector.fromArray(F, dst, d0 + c, m))
                    .intoArray(dst, d0 + c, m);
        }
    }
}
