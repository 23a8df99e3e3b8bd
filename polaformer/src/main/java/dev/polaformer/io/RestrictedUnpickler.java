package dev.polaformer.io;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * Reads Python pickles (protocols 0–5) into plain Java values — {@code Map}, {@code List}, {@code String},
 * {@code Long}, {@code Double}, {@code Boolean}, {@code byte[]}, null — and never runs or instantiates anything.
 *
 * <p>A pickle can name any Python callable ("global") and ask for it to be called; that is how malicious
 * checkpoints execute code. Here a global is only a name: it must be on a short list of what tensor
 * checkpoints use, and "calling" it builds a Java value the caller chose (an ordered map, a tensor
 * reference). Any other global fails the whole read with a message naming it.
 */
public final class RestrictedUnpickler {

    /** A global the pickle named, from the allowed list. */
    public record Global(String module, String name) {
        @Override
        public String toString() {
            return module + "." + name;
        }
    }

    /** A call of an allowed global that the caller turns into a value. */
    @FunctionalInterface
    public interface Reducer {
        Object reduce(Global callable, List<Object> args);
    }

    private static final Object MARK = new Object();

    private final String source;
    private final ByteBuffer in;
    private final Set<String> allowedGlobals;
    private final Reducer reducer;
    private final Function<Object, Object> persistentLoad;
    private final List<Object> stack = new ArrayList<>();
    private final Map<Long, Object> memo = new HashMap<>();

    /**
     * @param allowedGlobals   "module.name" strings that may appear
     * @param reducer          turns REDUCE/NEWOBJ of an allowed global into a value
     * @param persistentLoad   resolves persistent ids (PyTorch's storage references)
     */
    public RestrictedUnpickler(String source, byte[] data, Set<String> allowedGlobals, Reducer reducer,
                               Function<Object, Object> persistentLoad) {
        this.source = source;
        this.in = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
        this.allowedGlobals = allowedGlobals;
        this.reducer = reducer;
        this.persistentLoad = persistentLoad;
    }

    public Object load() {
        try {
            while (true) {
                int op = in.get() & 0xff;
                switch (op) {
                    case 0x80 -> in.get();                                   // PROTO
                    case 0x95 -> in.getLong();                               // FRAME
                    case '.' -> {                                            // STOP
                        return pop();
                    }
                    case '(' -> stack.add(MARK);
                    case ')' -> push(new ArrayList<>());                     // EMPTY_TUPLE
                    case 't' -> push(popMark());                             // TUPLE
                    case 0x85 -> push(new ArrayList<>(List.of(pop())));       // TUPLE1
                    case 0x86 -> { Object b = pop(), a = pop(); push(list(a, b)); }
                    case 0x87 -> { Object c = pop(), b = pop(), a = pop(); push(list(a, b, c)); }
                    case ']' -> push(new ArrayList<>());                     // EMPTY_LIST
                    case 'l' -> push(popMark());                             // LIST
                    case 'a' -> { Object v = pop(); asList(peek()).add(v); }  // APPEND
                    case 'e' -> { List<Object> items = popMark(); asList(peek()).addAll(items); }
                    case '}' -> push(new LinkedHashMap<>());                 // EMPTY_DICT
                    case 'd' -> {                                            // DICT
                        List<Object> items = popMark();
                        Map<Object, Object> m = new LinkedHashMap<>();
                        for (int i = 0; i + 1 < items.size(); i += 2) m.put(key(items.get(i)), items.get(i + 1));
                        push(m);
                    }
                    case 's' -> { Object v = pop(), k = pop(); asMap(peek()).put(key(k), v); }
                    case 'u' -> {                                            // SETITEMS
                        List<Object> items = popMark();
                        Map<Object, Object> m = asMap(peek());
                        for (int i = 0; i + 1 < items.size(); i += 2) m.put(key(items.get(i)), items.get(i + 1));
                    }
                    case 0x8f -> push(new ArrayList<>());                    // EMPTY_SET (as a list)
                    case 0x90 -> { List<Object> items = popMark(); asList(peek()).addAll(items); } // ADDITEMS
                    case 0x91 -> push(popMark());                            // FROZENSET
                    case 'N' -> push(null);
                    case 0x88 -> push(Boolean.TRUE);
                    case 0x89 -> push(Boolean.FALSE);
                    case 'J' -> push((long) in.getInt());                    // BININT
                    case 'K' -> push((long) (in.get() & 0xff));              // BININT1
                    case 'M' -> push((long) (in.getShort() & 0xffff));       // BININT2
                    case 0x8a -> push(longOf(bytes(in.get() & 0xff)));       // LONG1
                    case 0x8b -> push(longOf(bytes(in.getInt())));           // LONG4
                    case 'G' -> push(ByteBuffer.wrap(bytes(8)).order(ByteOrder.BIG_ENDIAN).getDouble()); // BINFLOAT
                    case 'I' -> push(parseIntLine(line()));                  // INT
                    case 'L' -> push(Long.parseLong(stripL(line())));        // LONG
                    case 'F' -> push(Double.parseDouble(line()));            // FLOAT
                    case 'X' -> push(utf8(bytes(in.getInt())));              // BINUNICODE
                    case 0x8c -> push(utf8(bytes(in.get() & 0xff)));         // SHORT_BINUNICODE
                    case 0x8d -> push(utf8(bytes(Math.toIntExact(in.getLong())))); // BINUNICODE8
                    case 'V' -> push(line());                                // UNICODE (raw-unicode-escape; ASCII suffices)
                    case 'T' -> push(latin1(bytes(in.getInt())));            // BINSTRING
                    case 'U' -> push(latin1(bytes(in.get() & 0xff)));        // SHORT_BINSTRING
                    case 'S' -> push(unquote(line()));                       // STRING
                    case 'B' -> push(bytes(in.getInt()));                    // BINBYTES
                    case 'C' -> push(bytes(in.get() & 0xff));                // SHORT_BINBYTES
                    case 0x8e -> push(bytes(Math.toIntExact(in.getLong()))); // BINBYTES8
                    case 0x96 -> push(bytes(Math.toIntExact(in.getLong()))); // BYTEARRAY8
                    case 'q' -> memo.put((long) (in.get() & 0xff), peek());  // BINPUT
                    case 'r' -> memo.put(in.getInt() & 0xffffffffL, peek()); // LONG_BINPUT
                    case 'p' -> memo.put(Long.parseLong(line()), peek());    // PUT
                    case 0x94 -> memo.put((long) memo.size(), peek());       // MEMOIZE
                    case 'h' -> push(memoGet(in.get() & 0xff));              // BINGET
                    case 'j' -> push(memoGet(in.getInt() & 0xffffffffL));    // LONG_BINGET
                    case 'g' -> push(memoGet(Long.parseLong(line())));       // GET
                    case '0' -> pop();                                       // POP
                    case '1' -> popMark();                                   // POP_MARK
                    case '2' -> push(peek());                                // DUP
                    case 'c' -> {                                            // GLOBAL
                        String module = line(), name = line();
                        push(global(module, name));
                    }
                    case 0x93 -> {                                           // STACK_GLOBAL
                        Object name = pop(), module = pop();
                        push(global(String.valueOf(module), String.valueOf(name)));
                    }
                    case 'R' -> { List<Object> args = asList(pop()); push(call(pop(), args)); } // REDUCE
                    case 0x81 -> { List<Object> args = asList(pop()); push(call(pop(), args)); } // NEWOBJ
                    case 0x92 -> { pop(); List<Object> args = asList(pop()); push(call(pop(), args)); } // NEWOBJ_EX
                    case 'b' -> build(pop(), peek());                        // BUILD
                    case 'Q' -> push(persistentLoad.apply(pop()));           // BINPERSID
                    case 'P' -> push(persistentLoad.apply(line()));          // PERSID
                    default -> throw fail(String.format("unsupported pickle opcode 0x%02x", op));
                }
            }
        } catch (java.nio.BufferUnderflowException e) {
            throw fail("the pickle ends early");
        } catch (ClassCastException | IndexOutOfBoundsException | NumberFormatException e) {
            throw fail("malformed pickle (" + e.getMessage() + ")");
        }
    }

    private Global global(String module, String name) {
        String full = module + "." + name;
        if (!allowedGlobals.contains(full)) {
            throw fail("it names the Python global '" + full + "', which a tensor checkpoint does not need;"
                    + " refusing to load it (this reader never runs code from a file)");
        }
        return new Global(module, name);
    }

    private Object call(Object callable, List<Object> args) {
        if (!(callable instanceof Global g)) throw fail("the pickle calls something that is not a global");
        return reducer.reduce(g, args);
    }

    /** BUILD: an instance's state; for the dict-like objects we keep, merge it in, otherwise ignore it. */
    @SuppressWarnings("unchecked")
    private void build(Object state, Object target) {
        if (target instanceof Map<?, ?> m && state instanceof Map<?, ?> s) ((Map<Object, Object>) m).putAll(s);
    }

    private Object memoGet(long i) {
        if (!memo.containsKey(i)) throw fail("memo entry " + i + " was never stored");
        return memo.get(i);
    }

    private void push(Object o) {
        stack.add(o);
    }

    private Object pop() {
        if (stack.isEmpty()) throw fail("stack underflow");
        Object o = stack.removeLast();
        if (o == MARK) throw fail("unexpected mark");
        return o;
    }

    private Object peek() {
        if (stack.isEmpty()) throw fail("stack underflow");
        return stack.getLast();
    }

    private List<Object> popMark() {
        int k = stack.lastIndexOf(MARK);
        if (k < 0) throw fail("missing mark");
        List<Object> items = new ArrayList<>(stack.subList(k + 1, stack.size()));
        stack.subList(k, stack.size()).clear();
        return items;
    }

    private static List<Object> list(Object... a) {
        return new ArrayList<>(Arrays.asList(a));
    }

    @SuppressWarnings("unchecked")
    private List<Object> asList(Object o) {
        if (o instanceof List<?> l) return (List<Object>) l;
        throw fail("expected a tuple or list, found " + describe(o));
    }

    @SuppressWarnings("unchecked")
    private Map<Object, Object> asMap(Object o) {
        if (o instanceof Map<?, ?> m) return (Map<Object, Object>) m;
        throw fail("expected a dict, found " + describe(o));
    }

    /** Dict keys: tuples (lists) are not hashable by content in Java, so they become their string form. */
    private static Object key(Object k) {
        return k instanceof List<?> ? k.toString() : k;
    }

    private byte[] bytes(int n) {
        if (n < 0 || n > in.remaining()) throw fail("a length of " + n + " runs past the end of the pickle");
        byte[] b = new byte[n];
        in.get(b);
        return b;
    }

    private String line() {
        StringBuilder b = new StringBuilder();
        while (true) {
            byte c = in.get();
            if (c == '\n') return b.toString();
            b.append((char) (c & 0xff));
        }
    }

    private static long longOf(byte[] littleEndianTwosComplement) {
        if (littleEndianTwosComplement.length > 8) throw new NumberFormatException("integer wider than 64 bits");
        long v = 0;
        for (int i = littleEndianTwosComplement.length - 1; i >= 0; i--) v = (v << 8) | (littleEndianTwosComplement[i] & 0xff);
        int bits = 8 * littleEndianTwosComplement.length;
        if (bits > 0 && bits < 64 && (littleEndianTwosComplement[littleEndianTwosComplement.length - 1] & 0x80) != 0) {
            v -= 1L << bits;
        }
        return v;
    }

    private static Object parseIntLine(String s) {
        if (s.equals("01")) return Boolean.TRUE;
        if (s.equals("00")) return Boolean.FALSE;
        return Long.parseLong(s);
    }

    private static String stripL(String s) {
        return s.endsWith("L") ? s.substring(0, s.length() - 1) : s;
    }

    private static String unquote(String s) {
        return s.length() >= 2 && (s.charAt(0) == '\'' || s.charAt(0) == '"') ? s.substring(1, s.length() - 1) : s;
    }

    private static String utf8(byte[] b) {
        return new String(b, StandardCharsets.UTF_8);
    }

    private static String latin1(byte[] b) {
        return new String(b, StandardCharsets.ISO_8859_1);
    }

    private static String describe(Object o) {
        return o == null ? "None" : o.getClass().getSimpleName();
    }

    private IllegalArgumentException fail(String what) {
        return new IllegalArgumentException("cannot read " + source + ": " + what);
    }
}
