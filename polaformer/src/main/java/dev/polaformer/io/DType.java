package dev.polaformer.io;

import java.util.Locale;

/** Element types of tensor files, with their safetensors names and byte sizes. */
public enum DType {
    F64(8), F32(4), F16(2), BF16(2), I64(8), I32(4), I16(2), I8(1), U8(1), BOOL(1);

    public final int bytes;

    DType(int bytes) {
        this.bytes = bytes;
    }

    /** The type named {@code name} (as in a safetensors header), or null if unknown. */
    public static DType byName(String name) {
        try {
            return valueOf(name.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    public boolean isFloating() {
        return this == F64 || this == F32 || this == F16 || this == BF16;
    }

    /** IEEE half to float, exactly. */
    public static float halfToFloat(int h) {
        return Float.float16ToFloat((short) h);
    }

    /** bfloat16 to float, exactly (it is the top half of a float). */
    public static float bf16ToFloat(int h) {
        return Float.intBitsToFloat((h & 0xffff) << 16);
    }
}
