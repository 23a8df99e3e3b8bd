package dev.polaformer.numerics;

/**
 * The 2-D rotary tables of one stage at one resolution: {@code sin} and {@code cos}, each {@code (N, D)} with
 * token {@code n} at row {@code n / w}, column {@code n % w}; the first {@code D/2} channels encode the row,
 * the last {@code D/2} the column (spec §1.6). All heads share them.
 */
public record RopeTables(Tensor sin, Tensor cos) implements AutoCloseable {
    public RopeTables {
        Shapes.requireRank("RopeTables", "sin", sin, 2);
        Shapes.requireSameShape("RopeTables", "sin", sin, "cos", cos);
        if (sin.dim(1) % 2 != 0) throw new IllegalArgumentException("RopeTables: width " + sin.dim(1) + " must be even");
    }

    /** Number of tokens N. */
    public int tokens() {
        return sin.dim(0);
    }

    /** Rotated width D. */
    public int width() {
        return sin.dim(1);
    }

    /**
     * Builds the tables on the host exactly as the official {@code RoPE.forward} does in float32: the angle
     * products {@code index·angle} are rounded to float before the sine and cosine are taken.
     *
     * @param angle the stored {@code angle} buffer, {@code θ0, θ0, θ1, θ1, ...} (length D/2)
     * @return {@code [sin, cos]}, each {@code h·w·D} floats in token order
     */
    public static float[][] compute(float[] angle, int h, int w) {
        int half = angle.length, width = 2 * half, n = h * w;
        float[] sin = new float[n * width], cos = new float[n * width];
        for (int r = 0; r < h; r++) {
            for (int c = 0; c < w; c++) {
                int base = (r * w + c) * width;
                for (int j = 0; j < half; j++) {
                    float rowAngle = (float) r * angle[j];
                    float colAngle = (float) c * angle[j];
                    sin[base + j] = (float) Math.sin(rowAngle);
                    cos[base + j] = (float) Math.cos(rowAngle);
                    sin[base + half + j] = (float) Math.sin(colAngle);
                    cos[base + half + j] = (float) Math.cos(colAngle);
                }
            }
        }
        return new float[][] {sin, cos};
    }

    /** The official {@code angle} buffer of {@code RoPE(embedDim, heads)}: {@code 1/10000^linspace(0,1,n)}, each repeated twice. */
    public static float[] defaultAngles(int embedDim, int heads) {
        int n = embedDim / heads / 4;
        float[] angle = new float[2 * n];
        for (int j = 0; j < n; j++) {
            // torch.linspace in float32, then 10000 ** x in float32: we round the exponent to float as torch does.
            float t = n == 1 ? 0f : (float) j / (float) (n - 1);
            float theta = (float) (1.0 / Math.pow(10000.0, t));
            angle[2 * j] = theta;
            angle[2 * j + 1] = theta;
        }
        return angle;
    }

    @Override
    public void close() {
        sin.close();
        cos.close();
    }
}
