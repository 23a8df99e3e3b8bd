package dev.polaformer.data;

import dev.polaformer.infer.ImageDecoder;
import dev.polaformer.infer.RgbImage;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Throughput of the training transform and the loader (not a unit test). Run after {@code mvn test-compile}:
 * <pre>
 * java -cp polaformer/target/classes:polaformer/target/test-classes dev.polaformer.data.TransformThroughput [seconds]
 * </pre>
 */
public final class TransformThroughput {
    public static void main(String[] args) throws Exception {
        double seconds = args.length > 0 ? Double.parseDouble(args[0]) : 3;
        FashionMnist fashion = FashionMnist.bundled("train");
        RgbImage photo = photo(500, 375);

        transform("TrainTransform official(32) from 28×28", new TrainTransform(AugmentConfig.official(32)), fashion.image(0), seconds);
        transform("TrainTransform official(224) from 500×375", new TrainTransform(AugmentConfig.official(224)), photo, seconds);
        transform("EvalTransform 256→224 from 500×375", new EvalTransform(dev.polaformer.infer.Preprocess.imagenet(224)), photo, seconds);

        Path dir = Files.createTempDirectory("throughput");
        try {
            for (int i = 0; i < 48; i++) {
                Path p = dir.resolve("c" + (i % 2)).resolve(i + ".jpg");
                Files.createDirectories(p.getParent());
                ImageIO.write(toBuffered(photo(500, 375, i)), "jpg", p.toFile());
            }
            ImageFolder folder = ImageFolder.open(dir);
            long start = System.nanoTime();
            int n = 0;
            while (System.nanoTime() - start < seconds * 1e9) ImageDecoder.read(folder.path(n++ % folder.size()));
            report("JPEG decode 500×375 (RgbImage.read)", n, start);

            for (int workers : new int[] {1, 2}) {
                loader("Loader fashion-mnist train 32px, batch 128, workers " + workers, fashion,
                        new TrainTransform(AugmentConfig.official(32)), 128, workers, seconds);
                loader("Loader JPEG folder 224px, batch 16, workers " + workers, folder,
                        new TrainTransform(AugmentConfig.official(224)), 16, workers, seconds);
            }
        } finally {
            try (var files = Files.walk(dir)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private static void transform(String what, Transform t, RgbImage img, double seconds) {
        float[] out = new float[t.floatsPerImage()];
        for (int i = 0; i < 200; i++) t.apply(img, Rng.of(0, i), out, 0);  // warm-up
        long start = System.nanoTime();
        int n = 0;
        while (System.nanoTime() - start < seconds * 1e9) t.apply(img, Rng.of(1, n++), out, 0);
        report(what + ", one thread", n, start);
    }

    private static void loader(String what, Dataset data, Transform t, int batch, int workers, double seconds) {
        int epoch = 0, images = 0;
        long start = System.nanoTime();
        outer:
        while (true) {
            try (Loader loader = new Loader(data, t, batch, true, true, 1, epoch++, 0, workers, 4)) {
                while (loader.hasNext()) {
                    images += loader.next().count();
                    if (System.nanoTime() - start > seconds * 1e9) break outer;
                }
            }
        }
        report(what, images, start);
    }

    private static void report(String what, int n, long start) {
        double s = (System.nanoTime() - start) / 1e9;
        System.out.printf(Locale.ROOT, "%-62s %8.1f images/s  (%d in %.2f s)%n", what, n / s, n, s);
    }

    private static RgbImage photo(int w, int h) {
        return photo(w, h, 0);
    }

    /** A smooth picture with mild noise, closer to a photo's JPEG cost than pure noise or flat colour. */
    private static RgbImage photo(int w, int h, long seed) {
        RgbImage base = Images.picture(w, h);
        SplittableRandom rng = new SplittableRandom(seed);
        byte[] px = base.rgb();
        for (int i = 0; i < px.length; i++) px[i] = (byte) Math.max(0, Math.min(255, (px[i] & 0xff) + rng.nextInt(21) - 10));
        return base;
    }

    private static BufferedImage toBuffered(RgbImage img) {
        BufferedImage b = new BufferedImage(img.width(), img.height(), BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < img.height(); y++)
            for (int x = 0; x < img.width(); x++) b.setRGB(x, y, img.at(x, y, 0) << 16 | img.at(x, y, 1) << 8 | img.at(x, y, 2));
        return b;
    }
}
