package dev.polaformer.numerics;

import java.util.ArrayDeque;
import java.util.Arrays;

/**
 * Idle arrays by their exact length, for the pools of planned and scratch memory ({@link HeapMemory}'s tensors,
 * the cpu backend's double partial sums): an open-addressing table on int keys, because a
 * {@code Map<Integer, …>} boxes every length above 127 on each lookup, which was allocation on every tensor of a
 * planned forward. Not thread-safe: each pool guards it with its own lock.
 *
 * @param <A> the array type
 */
public final class ArraysByLength<A> {
    private int[] keys = new int[64];
    private Object[] values = new Object[64];
    private int count;

    /** The arrays of this length, or null when none was ever given back. */
    @SuppressWarnings("unchecked")
    public ArrayDeque<A> get(int length) {
        int mask = keys.length - 1;
        for (int i = mix(length) & mask; values[i] != null; i = (i + 1) & mask) {
            if (keys[i] == length) return (ArrayDeque<A>) values[i];
        }
        return null;
    }

    /** The arrays of this length, made empty on first use. */
    public ArrayDeque<A> getOrCreate(int length) {
        ArrayDeque<A> q = get(length);
        if (q != null) return q;
        if (2 * (count + 1) > keys.length) grow();
        q = new ArrayDeque<>();
        insert(length, q);
        count++;
        return q;
    }

    public void clear() {
        Arrays.fill(keys, 0);
        Arrays.fill(values, null);
        count = 0;
    }

    private void insert(int length, Object q) {
        int mask = keys.length - 1, i = mix(length) & mask;
        while (values[i] != null) i = (i + 1) & mask;
        keys[i] = length;
        values[i] = q;
    }

    private void grow() {
        int[] oldKeys = keys;
        Object[] oldValues = values;
        keys = new int[2 * oldKeys.length];
        values = new Object[2 * oldKeys.length];
        for (int i = 0; i < oldKeys.length; i++) if (oldValues[i] != null) insert(oldKeys[i], oldValues[i]);
    }

    private static int mix(int key) {
        return key * 0x9E3779B9 >>> 7;
    }
}
