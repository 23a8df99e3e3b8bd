package dev.polaformer.data;

import dev.polaformer.infer.RgbImage;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * timm 0.4.12's RandAugment ({@code timm/data/auto_augment.py}), configured by a string such as
 * {@code "rand-m9-mstd0.5-inc1"}: dash-separated sections after {@code rand}, each a key followed by a value that
 * starts at its first digit ({@code m} magnitude, default 10; {@code n} ops per image, default 2; {@code mstd}
 * magnitude noise; {@code inc} use the "increasing" op set). A section with no digit is ignored and an unknown key
 * is an error, as in timm. Quirk kept from timm: {@code inc} tests {@code bool(val)} of the string, so "inc0" also
 * selects the increasing set. The weighted choice ({@code w}) is not implemented.
 *
 * <p>Per image: {@code n} ops are drawn uniformly WITH replacement from the op list (numpy's
 * {@code choice(ops, n, replace=True)}), then each in turn: skipped unless {@code random() <= 0.5}; otherwise its
 * magnitude is {@code gauss(m, mstd)} (uniform(0, m) if mstd is infinite, m if mstd is 0) clipped to [0, 10], turned
 * into the op's argument by its level function, and applied. Level functions (M = magnitude/10, ± = a random sign,
 * negative when {@code random() > 0.5}):
 * Rotate ±30M degrees; ShearX/Y ±0.3M; TranslateX/YRel ±0.45M of the image side; PosterizeIncreasing keeps
 * {@code 4 − int(4M)} bits (Posterize {@code int(4M)}); SolarizeIncreasing threshold {@code 256 − int(256M)}
 * (Solarize {@code int(256M)}); SolarizeAdd adds {@code int(110M)} below 128; Color/Contrast/Brightness/Sharpness
 * Increasing factor {@code 1 ± 0.9M} (plain: {@code 0.1 + 1.8M}); AutoContrast, Equalize, Invert take none
 * (their magnitude is still drawn). Geometric ops fill with the normalisation mean and resample bicubically
 * ({@link AffineOps}); colour ops follow Pillow ({@link PixelOps}).
 *
 * @param ops          the op list choices are drawn from
 * @param numLayers    ops per image
 * @param magnitude    the mean magnitude, 0..10
 * @param magnitudeStd the magnitude noise (0: none; infinite: uniform in [0, magnitude])
 * @param fill         the RGB fill colour of geometric ops
 */
record RandAugment(List<Op> ops, int numLayers, double magnitude, double magnitudeStd, int[] fill) {
    static final double MAX_LEVEL = 10;
    static final double PROBABILITY = 0.5;
    static final double TRANSLATE_PCT = 0.45;

    enum Op {
        AUTO_CONTRAST("AutoContrast"), EQUALIZE("Equalize"), INVERT("Invert"), ROTATE("Rotate"),
        POSTERIZE("Posterize"), POSTERIZE_INCREASING("PosterizeIncreasing"),
        SOLARIZE("Solarize"), SOLARIZE_INCREASING("SolarizeIncreasing"), SOLARIZE_ADD("SolarizeAdd"),
        COLOR("Color"), COLOR_INCREASING("ColorIncreasing"), CONTRAST("Contrast"), CONTRAST_INCREASING("ContrastIncreasing"),
        BRIGHTNESS("Brightness"), BRIGHTNESS_INCREASING("BrightnessIncreasing"),
        SHARPNESS("Sharpness"), SHARPNESS_INCREASING("SharpnessIncreasing"),
        SHEAR_X("ShearX"), SHEAR_Y("ShearY"), TRANSLATE_X_REL("TranslateXRel"), TRANSLATE_Y_REL("TranslateYRel");

        final String timmName;

        Op(String timmName) {
            this.timmName = timmName;
        }

        /** The op's argument for a magnitude in [0, 10]; draws the random sign where timm does. NaN: no argument. */
        double level(double magnitude, SplittableRandom rng) {
            double m = magnitude / MAX_LEVEL;
            return switch (this) {
                case AUTO_CONTRAST, EQUALIZE, INVERT -> Double.NaN;
                case ROTATE -> negateAtRandom(m * 30.0, rng);
                case POSTERIZE -> (int) (m * 4);
                case POSTERIZE_INCREASING -> 4 - (int) (m * 4);
                case SOLARIZE -> (int) (m * 256);
                case SOLARIZE_INCREASING -> 256 - (int) (m * 256);
                case SOLARIZE_ADD -> (int) (m * 110);
                case COLOR, CONTRAST, BRIGHTNESS, SHARPNESS -> m * 1.8 + 0.1;
                case COLOR_INCREASING, CONTRAST_INCREASING, BRIGHTNESS_INCREASING, SHARPNESS_INCREASING ->
                        1.0 + negateAtRandom(m * 0.9, rng);
                case SHEAR_X, SHEAR_Y -> negateAtRandom(m * 0.3, rng);
                case TRANSLATE_X_REL, TRANSLATE_Y_REL -> negateAtRandom(m * TRANSLATE_PCT, rng);
            };
        }

        RgbImage apply(RgbImage img, double arg, int[] fill) {
            return switch (this) {
                case AUTO_CONTRAST -> PixelOps.autoContrast(img);
                case EQUALIZE -> PixelOps.equalize(img);
                case INVERT -> PixelOps.invert(img);
                case ROTATE -> AffineOps.rotate(img, arg, fill);
                case POSTERIZE, POSTERIZE_INCREASING -> PixelOps.posterize(img, (int) arg);
                case SOLARIZE, SOLARIZE_INCREASING -> PixelOps.solarize(img, (int) arg);
                case SOLARIZE_ADD -> PixelOps.solarizeAdd(img, (int) arg, 128);
                case COLOR, COLOR_INCREASING -> PixelOps.color(img, arg);
                case CONTRAST, CONTRAST_INCREASING -> PixelOps.contrast(img, arg);
                case BRIGHTNESS, BRIGHTNESS_INCREASING -> PixelOps.brightness(img, arg);
                case SHARPNESS, SHARPNESS_INCREASING -> PixelOps.sharpness(img, arg);
                case SHEAR_X -> AffineOps.shearX(img, arg, fill);
                case SHEAR_Y -> AffineOps.shearY(img, arg, fill);
                case TRANSLATE_X_REL -> AffineOps.translateXRel(img, arg, fill);
                case TRANSLATE_Y_REL -> AffineOps.translateYRel(img, arg, fill);
            };
        }

        private static double negateAtRandom(double v, SplittableRandom rng) {
            return rng.nextDouble() > 0.5 ? -v : v;
        }
    }

    /** timm's {@code _RAND_TRANSFORMS}. */
    static final List<Op> DEFAULT_OPS = List.of(Op.AUTO_CONTRAST, Op.EQUALIZE, Op.INVERT, Op.ROTATE, Op.POSTERIZE, Op.SOLARIZE,
            Op.SOLARIZE_ADD, Op.COLOR, Op.CONTRAST, Op.BRIGHTNESS, Op.SHARPNESS, Op.SHEAR_X, Op.SHEAR_Y,
            Op.TRANSLATE_X_REL, Op.TRANSLATE_Y_REL);

    /** timm's {@code _RAND_INCREASING_TRANSFORMS}. */
    static final List<Op> INCREASING_OPS = List.of(Op.AUTO_CONTRAST, Op.EQUALIZE, Op.INVERT, Op.ROTATE, Op.POSTERIZE_INCREASING,
            Op.SOLARIZE_INCREASING, Op.SOLARIZE_ADD, Op.COLOR_INCREASING, Op.CONTRAST_INCREASING, Op.BRIGHTNESS_INCREASING,
            Op.SHARPNESS_INCREASING, Op.SHEAR_X, Op.SHEAR_Y, Op.TRANSLATE_X_REL, Op.TRANSLATE_Y_REL);

    RandAugment {
        ops = List.copyOf(ops);
        fill = fill.clone();
    }

    /** Parses a timm RandAugment string; null for null, "" or "none". */
    static RandAugment parse(String spec, int[] fill) {
        if (spec == null || spec.isBlank() || spec.equalsIgnoreCase("none")) return null;
        String[] sections = spec.split("-");
        if (!sections[0].equals("rand")) {
            throw new IllegalArgumentException("RandAugment \"" + spec + "\" must start with \"rand\" (e.g. rand-m9-mstd0.5-inc1)");
        }
        double magnitude = MAX_LEVEL, std = 0;
        int layers = 2;
        List<Op> ops = DEFAULT_OPS;
        for (int i = 1; i < sections.length; i++) {
            String s = sections[i];
            int digit = 0;
            while (digit < s.length() && !Character.isDigit(s.charAt(digit))) digit++;
            if (digit == s.length()) continue;  // timm: re.split(r'(\d.*)') finds no value, the section is skipped
            String key = s.substring(0, digit), value = s.substring(digit);
            try {
                switch (key) {
                    case "m" -> magnitude = Integer.parseInt(value);
                    case "n" -> layers = Integer.parseInt(value);
                    case "mstd" -> std = Double.parseDouble(value);
                    case "inc" -> ops = INCREASING_OPS;  // timm: bool(val) is true for any non-empty string
                    case "w" -> throw new IllegalArgumentException("RandAugment \"" + spec + "\": weighted op choice (w) is not supported");
                    default -> throw new IllegalArgumentException("RandAugment \"" + spec + "\": unknown section \"" + s
                            + "\" (known: m, n, mstd, inc)");
                }
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("RandAugment \"" + spec + "\": section \"" + s + "\" has a bad number", e);
            }
        }
        if (layers < 0) throw new IllegalArgumentException("RandAugment \"" + spec + "\": negative op count");
        return new RandAugment(ops, layers, magnitude, std, fill);
    }

    /** One drawn op: whether it runs, and if so its magnitude and argument (NaN for ops without one). */
    record Step(Op op, boolean applied, double magnitude, double argument) {}

    /** Draws the decisions for one image, in timm's order. */
    List<Step> plan(SplittableRandom rng) {
        Op[] chosen = new Op[numLayers];
        for (int i = 0; i < numLayers; i++) chosen[i] = ops.get(rng.nextInt(ops.size()));
        List<Step> steps = new ArrayList<>(numLayers);
        for (Op op : chosen) {
            if (PROBABILITY < 1.0 && rng.nextDouble() > PROBABILITY) {
                steps.add(new Step(op, false, Double.NaN, Double.NaN));
                continue;
            }
            double m = magnitude;
            if (magnitudeStd == Double.POSITIVE_INFINITY) m = RandomResizedCrop.uniform(rng, 0, m);
            else if (magnitudeStd > 0) m = m + magnitudeStd * rng.nextGaussian();
            m = Math.min(MAX_LEVEL, Math.max(0, m));
            steps.add(new Step(op, true, m, op.level(m, rng)));
        }
        return steps;
    }

    RgbImage apply(RgbImage image, SplittableRandom rng) {
        RgbImage img = image;
        for (Step s : plan(rng)) if (s.applied()) img = s.op().apply(img, s.argument(), fill);
        return img;
    }

    @Override public String toString() {
        return String.format(Locale.ROOT, "RandAugment[n=%d, m=%s, mstd=%s, ops=%s]", numLayers, magnitude, magnitudeStd,
                ops.stream().map(o -> o.timmName).toList());
    }
}
