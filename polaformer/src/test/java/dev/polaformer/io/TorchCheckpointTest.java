package dev.polaformer.io;

import dev.polaformer.model.PolaFormer;
import dev.polaformer.model.Variant;
import dev.polaformer.numerics.Backends;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TorchCheckpointTest {
    @TempDir
    Path dir;

    private static Path resource(String name) throws URISyntaxException {
        return Path.of(TorchCheckpointTest.class.getResource("/checkpoints/" + name).toURI());
    }

    /** tiny_checkpoint.pth was written by torch.save (make_checkpoint.py beside it); every value must match bit for bit. */
    @Test
    void realTorchSaveCheckpointIsReadBitExactly() throws Exception {
        List<String> expected = Files.readAllLines(resource("tiny_checkpoint.expected.txt"));
        try (TorchCheckpoint ckpt = TorchCheckpoint.open(resource("tiny_checkpoint.pth"))) {
            assertEquals(List.of("model", "model_ema"), ckpt.stateDictNames());
            Map<?, ?> root = (Map<?, ?>) ckpt.root();
            assertEquals(12L, root.get("epoch"));
            assertEquals(71.5, root.get("max_accuracy"));
            assertEquals(java.util.Arrays.asList(true, false, null), root.get("flags"));
            int checked = 0;
            for (String which : new String[] {"model", "model_ema"}) {
                TensorSource src = ckpt.stateDict(which);
                for (String line : expected) {
                    String[] parts = line.split(" ", 4);
                    if (!parts[0].startsWith(which + ".module.")) continue;
                    String name = parts[0].substring(which.length() + ".module.".length());
                    int[] shape = parseShape(parts[2]);
                    assertArrayEquals(shape, src.shape(name), name);
                    String[] values = parts.length > 3 ? parts[3].split(" ") : new String[0];
                    if (parts[1].equals("I64")) {
                        assertEquals(Long.parseLong(values[0]), src.longValue(name), name);
                    } else {
                        float[] got = src.floats(name);
                        assertEquals(values.length, got.length, name);
                        for (int i = 0; i < got.length; i++) {
                            assertEquals(Integer.parseUnsignedInt(values[i], 16), Float.floatToRawIntBits(got[i]),
                                    name + "[" + i + "]");
                        }
                    }
                    checked++;
                }
            }
            assertEquals(18, checked, "both state dicts, all nine tensors each (strided views, F16, BF16, F64, I64)");
        }
    }

    private static int[] parseShape(String s) {
        String inner = s.substring(1, s.length() - 1).trim();
        if (inner.isEmpty()) return new int[0];
        return java.util.Arrays.stream(inner.split(",")).map(String::trim).mapToInt(Integer::parseInt).toArray();
    }

    @Test
    void aPickleNamingAForbiddenGlobalIsRefusedByName() throws IOException {
        // protocol-2 pickle of  os.system("echo pwned")  — the classic malicious checkpoint
        byte[] evil = "\u0080\u0002cos\nsystem\nq\u0000X\n\u0000\u0000\u0000echo pwnedq\u0001\u0085q\u0002Rq\u0003."
                .getBytes(StandardCharsets.ISO_8859_1);
        Path p = zip("evil", evil);
        String m = assertThrows(IllegalArgumentException.class, () -> TorchCheckpoint.open(p)).getMessage();
        assertTrue(m.contains("'os.system'") && m.contains("refusing"), m);

        byte[] builtins = "\u0080\u0002cbuiltins\neval\nX\u0001\u0000\u0000\u00001\u0085R.".getBytes(StandardCharsets.ISO_8859_1);
        String m2 = assertThrows(IllegalArgumentException.class, () -> TorchCheckpoint.open(zip("evil2", builtins))).getMessage();
        assertTrue(m2.contains("'builtins.eval'"), m2);
    }

    @Test
    void aFileThatIsNotAZipCheckpointIsRefused() throws IOException {
        Path p = dir.resolve("legacy.pth");
        Files.write(p, new byte[] {(byte) 0x80, 2, 'K', 1, '.'});
        String m = assertThrows(IllegalArgumentException.class, () -> TorchCheckpoint.open(p)).getMessage();
        assertTrue(m.contains("zip format"), m);
    }

    @Test
    void aCheckpointOfAnotherVariantIsRefusedNamingEveryDifference() throws IOException {
        Path p = dir.resolve("b1.safetensors");
        try (PolaFormer b1 = new PolaFormer(Backends.get("reference"), Variant.B1, 10)) {
            Weights.save(b1, p, Map.of());
        }
        try (PolaFormer b0 = new PolaFormer(Backends.get("reference"), Variant.B0, 10);
             TensorSource src = TensorSource.of(SafetensorsFile.open(p))) {
            String m = assertThrows(IllegalArgumentException.class, () -> Weights.load(b0, src)).getMessage();
            assertTrue(m.contains(p.toString()), m);
            assertTrue(m.contains("unexpected: [layers.2.blocks.2."), "b1 has four stage-2 blocks: " + m);
            assertTrue(m.contains("wrong shape: [layers.1.downsample.reduction.weight (model [128, 64, 3, 3], file [192, 64, 3, 3])"), m);
            var report = Weights.load(b0, src, "", false);
            assertTrue(report.loaded() > 0 && !report.clean(), "non-strict loads what fits and reports the rest");
        }
    }

    private Path zip(String name, byte[] pickle) throws IOException {
        Path p = dir.resolve(name + ".pth");
        try (OutputStream o = Files.newOutputStream(p); ZipOutputStream z = new ZipOutputStream(o)) {
            z.putNextEntry(new ZipEntry(name + "/data.pkl"));
            z.write(pickle);
            z.closeEntry();
        }
        return p;
    }
}
