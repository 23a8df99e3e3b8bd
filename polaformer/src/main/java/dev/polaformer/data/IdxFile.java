package dev.polaformer.data;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.util.Arrays;
import java.util.zip.GZIPInputStream;

/**
 * An IDX file of unsigned bytes, the format of (Fashion-)MNIST: a magic number {@code 00 00 08 D} (0x08 = unsigned
 * byte, D = number of dimensions), D big-endian 32-bit sizes, then the data in row-major order. Gzipped files are
 * recognised by their first two bytes and inflated on the fly. Every error names the file.
 *
 * @param name       the file, for messages
 * @param dimensions the sizes, outermost (the item count) first
 * @param data       the bytes, {@code product(dimensions)} of them
 */
record IdxFile(String name, int[] dimensions, byte[] data) {
    static final int UNSIGNED_BYTE = 0x08;

    static IdxFile read(InputStream raw, String name, int expectedDimensions) throws IOException {
        InputStream in = new BufferedInputStream(raw, 1 << 16);
        in.mark(2);
        int b0 = in.read(), b1 = in.read();
        in.reset();
        if (b0 == 0x1f && b1 == 0x8b) in = new BufferedInputStream(new GZIPInputStream(in, 1 << 16), 1 << 16);

        byte[] magic = readFully(in, 4, name, "the magic number");
        if (magic[0] != 0 || magic[1] != 0) {
            throw new IOException(name + " is not an IDX file: it starts with bytes " + hex(magic)
                    + ", an IDX file with " + expectedDimensions + " dimension(s) of unsigned bytes starts with 00 00 08 "
                    + String.format("%02x", expectedDimensions));
        }
        if ((magic[2] & 0xff) != UNSIGNED_BYTE || magic[3] != expectedDimensions) {
            throw new IOException(name + ": IDX magic " + hex(magic) + " says element type 0x"
                    + String.format("%02x", magic[2] & 0xff) + " with " + magic[3] + " dimension(s); expected unsigned bytes"
                    + " (0x08) with " + expectedDimensions + " (magic 00 00 08 " + String.format("%02x", expectedDimensions) + ")");
        }
        int[] dims = new int[expectedDimensions];
        long total = 1;
        byte[] header = readFully(in, 4 * expectedDimensions, name, "the dimension sizes");
        for (int d = 0; d < dims.length; d++) {
            dims[d] = (header[4 * d] & 0xff) << 24 | (header[4 * d + 1] & 0xff) << 16 | (header[4 * d + 2] & 0xff) << 8 | (header[4 * d + 3] & 0xff);
            if (dims[d] < 0) throw new IOException(name + ": dimension " + d + " has a negative size " + dims[d]);
            total *= dims[d];
        }
        if (total > Integer.MAX_VALUE - 64) throw new IOException(name + ": " + Arrays.toString(dims) + " is too large to hold in memory");
        byte[] data = readFully(in, (int) total, name, "the " + total + " data bytes of " + Arrays.toString(dims));
        return new IdxFile(name, dims, data);
    }

    private static byte[] readFully(InputStream in, int n, String name, String what) throws IOException {
        byte[] out = new byte[n];
        int done = 0;
        while (done < n) {
            int r = in.read(out, done, n - done);
            if (r < 0) throw new EOFException(name + " is truncated: it ends after " + done + " of " + what);
            done += r;
        }
        return out;
    }

    private static String hex(byte[] bytes) {
        StringBuilder s = new StringBuilder();
        for (byte b : bytes) s.append(s.isEmpty() ? "" : " ").append(String.format("%02x", b & 0xff));
        return s.toString();
    }

    /** For tests: the bytes of an uncompressed IDX file. */
    static byte[] encode(int[] dimensions, byte[] data) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(new byte[] {0, 0, UNSIGNED_BYTE, (byte) dimensions.length});
        for (int d : dimensions) out.writeBytes(new byte[] {(byte) (d >>> 24), (byte) (d >>> 16), (byte) (d >>> 8), (byte) d});
        out.writeBytes(data);
        return out.toByteArray();
    }
}
