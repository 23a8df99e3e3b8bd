package dev.polaformer.infer;

import org.junit.jupiter.api.Test;

import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PreprocessTest {
    private static Path image(String name) throws URISyntaxException {
        return Path.of(PreprocessTest.class.getResource("/images/" + name).toURI());
    }

    /** The expected bytes were written by Pillow's Image.resize(BICUBIC) (make_images.py beside the images). */
    @Test
    void bicubicResizeMatchesPillowBitForBit() throws Exception {
        for (String[] c : new String[][] {{"down", "48", "36"}, {"up", "90", "70"}}) {
            RgbImage in = ImageDecoder.read(image(c[0] + ".png"));
            RgbImage out = Preprocess.resize(in, Integer.parseInt(c[1]), Integer.parseInt(c[2]));
            assertArrayEquals(Files.readAllBytes(image(c[0] + ".resized.rgb")), out.rgb(), c[0] + "scaling");
        }
    }

    @Test
    void evaluationTransformCropsTheCentreAndNormalises() throws Exception {
        Preprocess p = Preprocess.imagenet(224);
        assertEquals(256, p.resize());
        RgbImage in = ImageDecoder.read(image("down.png"));
        float[] out = p.apply(in);
        assertEquals(224 * 224 * 3, out.length);
        RgbImage resized = Preprocess.resize(in, 256, 256);
        // pixel (0,0) of the crop is pixel (16,16) of the 256×256 resize
        for (int c = 0; c < 3; c++) {
            float expected = (resized.at(16, 16, c) / 255f - Preprocess.IMAGENET_MEAN[c]) / Preprocess.IMAGENET_STD[c];
            assertEquals(expected, out[c], 0f);
        }
    }

    @Test
    void grayscalePaletteSixteenBitAndAlphaImagesAreConverted() throws Exception {
        for (String n : new String[] {"gray.png", "palette.png", "gray16.png", "rgba.png", "photo.jpg"}) {
            RgbImage im = ImageDecoder.read(image(n));
            assertEquals(50, im.width(), n);
            assertEquals(40, im.height(), n);
        }
        RgbImage gray = ImageDecoder.read(image("gray.png"));
        assertEquals(gray.at(3, 4, 0), gray.at(3, 4, 2), "gray is replicated to three channels");
    }

    @Test
    void cmykAndNonImagesAreRefusedWithTheFileName() throws Exception {
        var e = assertThrows(IllegalArgumentException.class, () -> ImageDecoder.read(image("cmyk.jpg")));
        assertTrue(e.getMessage().contains("cmyk.jpg") && e.getMessage().contains("CMYK"), e.getMessage());
        var e2 = assertThrows(IllegalArgumentException.class, () -> ImageDecoder.read(image("not_an_image.jpg")));
        assertTrue(e2.getMessage().contains("not_an_image.jpg") && e2.getMessage().contains("not an image"), e2.getMessage());
    }
}
