package dev.polaformer.data;

import dev.polaformer.infer.Resample;
import dev.polaformer.infer.RgbImage;
import org.junit.jupiter.api.Test;

import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPInputStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The RandAugment ops, the flip and the crop resize against Pillow 9.4's own outputs for the calls timm makes
 * ({@code scripts/make_pillow_golden.py} wrote {@code pillow-golden.bin.gz}): every pixel must match exactly.
 */
class PillowParityTest {
    private static final int[] FILL = {124, 116, 104};

    private static Map<String, RgbImage> golden() throws IOException {
        Map<String, RgbImage> records = new LinkedHashMap<>();
        try (InputStream raw = PillowParityTest.class.getResourceAsStream("pillow-golden.bin.gz");
             DataInputStream in = new DataInputStream(new GZIPInputStream(raw))) {
            while (true) {
                int nameLength;
                try {
                    nameLength = in.readUnsignedShort();
                } catch (EOFException end) {
                    break;
                }
                String name = new String(in.readNBytes(nameLength), StandardCharsets.UTF_8);
                int w = in.readUnsignedShort(), h = in.readUnsignedShort();
                records.put(name, new RgbImage(w, h, in.readNBytes(w * h * 3)));
            }
        }
        return records;
    }

    private static RgbImage apply(String op, String arg, RgbImage in) {
        double a = arg.isEmpty() || op.equals("ResizedCrop") ? Double.NaN : Double.parseDouble(arg);
        return switch (op) {
            case "AutoContrast" -> PixelOps.autoContrast(in);
            case "Equalize" -> PixelOps.equalize(in);
            case "Invert" -> PixelOps.invert(in);
            case "Posterize" -> PixelOps.posterize(in, (int) a);
            case "Solarize" -> PixelOps.solarize(in, (int) a);
            case "SolarizeAdd" -> PixelOps.solarizeAdd(in, (int) a, 128);
            case "Color" -> PixelOps.color(in, a);
            case "Contrast" -> PixelOps.contrast(in, a);
            case "Brightness" -> PixelOps.brightness(in, a);
            case "Sharpness" -> PixelOps.sharpness(in, a);
            case "Rotate" -> AffineOps.rotate(in, a, FILL);
            case "ShearX" -> AffineOps.shearX(in, a, FILL);
            case "ShearY" -> AffineOps.shearY(in, a, FILL);
            case "TranslateXRel" -> AffineOps.translateXRel(in, a, FILL);
            case "TranslateYRel" -> AffineOps.translateYRel(in, a, FILL);
            case "HFlip" -> PixelOps.hflip(in);
            case "ResizedCrop" -> {
                String[] p = arg.split(",");
                yield Resample.resizedCrop(in, Integer.parseInt(p[0]), Integer.parseInt(p[1]), Integer.parseInt(p[2]),
                        Integer.parseInt(p[3]), Integer.parseInt(p[4]), Integer.parseInt(p[5]));
            }
            default -> throw new IllegalArgumentException("no op " + op);
        };
    }

    @Test void everyOpMatchesPillowPixelForPixel() throws IOException {
        Map<String, RgbImage> records = golden();
        List<String> mismatches = new ArrayList<>();
        int compared = 0;
        for (Map.Entry<String, RgbImage> e : records.entrySet()) {
            String[] parts = e.getKey().split("/", 3);
            if (parts[0].equals("input")) continue;
            RgbImage expected = e.getValue(), got = apply(parts[1], parts[2], records.get("input/" + parts[0]));
            compared++;
            assertEquals(expected.width(), got.width(), e.getKey());
            assertEquals(expected.height(), got.height(), e.getKey());
            int differ = 0, worst = 0;
            for (int i = 0; i < expected.rgb().length; i++) {
                int d = Math.abs((expected.rgb()[i] & 0xff) - (got.rgb()[i] & 0xff));
                if (d != 0) differ++;
                worst = Math.max(worst, d);
            }
            if (differ > 0) mismatches.add(e.getKey() + ": " + differ + " values differ, by up to " + worst);
        }
        assertEquals(87, compared);
        assertTrue(mismatches.isEmpty(), String.join("\n", mismatches));
    }
}
