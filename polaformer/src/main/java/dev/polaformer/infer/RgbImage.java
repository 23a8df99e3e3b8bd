package dev.polaformer.infer;

/**
 * An 8-bit RGB image, {@code height × width × 3} bytes in row-major order (as PIL's {@code convert("RGB")} gives).
 * Image files are decoded by {@link ImageDecoder}; this record needs nothing of {@code java.desktop}, so runtimes
 * without it (a GPU pack, an edge image that only reads IDX data) can still load the data pipeline.
 */
public record RgbImage(int width, int height, byte[] rgb) {
    public RgbImage {
        if (width < 1 || height < 1 || rgb.length != width * height * 3) {
            throw new IllegalArgumentException("an RGB image of " + width + "×" + height + " needs " + width * height * 3 + " bytes");
        }
    }

    public int at(int x, int y, int channel) {
        return rgb[(y * width + x) * 3 + channel] & 0xff;
    }
}
