package dev.polaformer.model;

import dev.polaformer.numerics.Backends;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

class ComplexityTest {
    /** The official parameter counts (torch, 1000 classes) and core FLOPs at 224² (spec §2.1). */
    private static final Map<Variant, long[]> OFFICIAL = Map.of(
            Variant.B0, new long[] {7_548_712, 662},
            Variant.B1, new long[] {9_227_496, 996},
            Variant.B2, new long[] {16_450_664, 2_718},
            Variant.B3, new long[] {27_145_896, 5_049},
            Variant.B4, new long[] {49_798_792, 11_015},
            Variant.B5, new long[] {97_773_000, 17_697});

    @Test
    void parametersAndFlopsMatchTheOfficialCounts() {
        for (var e : OFFICIAL.entrySet()) {
            Variant v = e.getKey();
            assertEquals(e.getValue()[0], Complexity.parameters(v, 1000), v + " parameters");
            double gflops = Complexity.flops(v, 1000, 224, 224) / 1e9;
            double official = e.getValue()[1] / 1000.0;
            assertEquals(official, gflops, official * 0.01, v + " GFLOPs");
            // the closed form is exact: rounding to the official three decimals must give the official number
            assertEquals(official, Math.round(gflops * 1000) / 1000.0, 1e-9, v + " GFLOPs to three decimals");
        }
    }

    @Test
    void closedFormCountsWhatTheModelHolds() {
        for (Variant v : new Variant[] {Variant.B0, Variant.B1}) {
            try (PolaFormer m = new PolaFormer(Backends.get("reference"), v, 10)) {
                long n = 0;
                for (Parameter p : m.namedParameters().values()) n += p.value().size();
                assertEquals(Complexity.parameters(v, 10), n, v + " with 10 classes");
            }
        }
    }

    @Test
    void b0StateDictHasTheOfficialKeysInOrder() throws Exception {
        java.nio.file.Path list = dev.polaformer.golden.Golden.dir().resolve("b0_state_dict.txt");
        var lines = java.nio.file.Files.readAllLines(list).stream().filter(l -> !l.isBlank()).toList();
        try (PolaFormer m = new PolaFormer(Backends.get("reference"), Variant.B0, 1000)) {
            var keys = m.stateDict();
            assertEquals(lines.size(), keys.size());
            int i = 0;
            for (var e : keys.entrySet()) {
                String shape = java.util.Arrays.toString(e.getValue().shape()).replace(" ", "");
                assertEquals(lines.get(i++), e.getKey() + " " + shape);
            }
        }
    }
}
