package dev.polaformer.cuda;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Finds the NVIDIA libraries the CUDA backend needs and loads them.
 *
 * <p>The generated bindings are made without {@code --library}: they look their symbols up in whatever this
 * class loader has loaded. So this class decides which files are used, and {@link #load()} must run before any
 * class of {@code dev.polaformer.cuda.bindings} is touched.
 *
 * <p>Each library is taken from the first of these places that has its versioned file name:
 * <ol>
 *   <li>the folders in {@code -Dpolaformer.cuda.libpath} (a path list), so a user can always say which;
 *   <li>the folders the system loader searches for sonames: {@code LD_LIBRARY_PATH}, the folders named in
 *       {@code /etc/ld.so.conf} and {@code /etc/ld.so.conf.d/*.conf}, and the loader's trusted folders. A file
 *       that {@code dlopen("libcudart.so.13")} would find is found here too, but as an absolute path, because
 *       {@code System.load} wants one and a failure must say which file it was;
 *   <li>the usual install places: CUDA toolkits under {@code /usr/local/cuda*}, the distribution's library
 *       folders, and the {@code nvidia-*} pip packages under the usual Python prefixes.
 * </ol>
 * {@link #find()} only looks at files; nothing is loaded until {@link #load()}.
 */
public final class CudaLibraries {
    /** Path list of folders searched first. */
    public static final String LIBPATH_PROPERTY = "polaformer.cuda.libpath";

    /** The libraries, in the order they are loaded (a library after those it links against). */
    public enum Library {
        DRIVER("libcuda.so.1", "the NVIDIA driver's CUDA library", null),
        RUNTIME("libcudart.so.13", "the CUDA 13 runtime", null),
        CUBLAS_LT("libcublasLt.so.13", "cuBLASLt 13, which cuBLAS needs", null),
        CUBLAS("libcublas.so.13", "cuBLAS 13", null),
        NVRTC("libnvrtc.so.13", "NVRTC 13", "libnvrtc-builtins.so.13*"),
        CUDNN("libcudnn.so.9", "cuDNN 9", "libcudnn_*.so.9");

        private final String fileName;
        private final String description;
        /** Files next to the library that it opens by name later (see {@link #load()}), as a glob; or null. */
        private final String companions;

        Library(String fileName, String description, String companions) {
            this.fileName = fileName;
            this.description = description;
            this.companions = companions;
        }

        public String fileName() {
            return fileName;
        }

        public String description() {
            return description;
        }
    }

    /** How one search went: where each library was found, and every folder that was looked in. */
    public record Found(Map<Library, Path> paths, List<Path> searched, String libpathSetting) {
        public Found {
            Map<Library, Path> copy = new EnumMap<>(Library.class);
            copy.putAll(paths);
            paths = Collections.unmodifiableMap(copy);
            searched = List.copyOf(searched);
        }

        public Optional<Path> path(Library library) {
            return Optional.ofNullable(paths.get(library));
        }

        public boolean complete() {
            return paths.size() == Library.values().length;
        }

        public List<Library> missing() {
            List<Library> missing = new ArrayList<>();
            for (Library l : Library.values()) if (!paths.containsKey(l)) missing.add(l);
            return missing;
        }

        /**
         * One line for the provider's reason, which {@code auto} logs on every CPU-only machine: what is
         * missing, what was found, and the kinds of places searched (not each folder; {@link #describe()} has them).
         */
        public String summary() {
            StringBuilder s = new StringBuilder(complete() ? "all CUDA libraries found" : "missing ");
            List<Library> missing = missing();
            for (int i = 0; i < missing.size(); i++) s.append(i == 0 ? "" : ", ").append(missing.get(i).fileName);
            s.append("; found: ").append(paths.isEmpty() ? "none" : joined(List.copyOf(paths.values())));
            s.append("; searched -D").append(LIBPATH_PROPERTY).append(libpathSetting == null ? " (not set)" : "=" + libpathSetting)
                    .append(", the system loader's folders, /usr/local/cuda*, pip nvidia-* packages");
            return s.toString();
        }

        /** What was looked for (with what each library is), where (every folder), and what was found. */
        public String describe() {
            StringBuilder s = new StringBuilder();
            List<Library> missing = missing();
            if (missing.isEmpty()) {
                s.append("all CUDA libraries found");
            } else {
                s.append("missing ");
                for (int i = 0; i < missing.size(); i++) {
                    Library l = missing.get(i);
                    s.append(i == 0 ? "" : ", ").append(l.fileName).append(" (").append(l.description).append(')');
                }
            }
            s.append("; found: ").append(paths.isEmpty() ? "none" : joined(List.copyOf(paths.values())));
            s.append("; looked in -D").append(LIBPATH_PROPERTY)
                    .append(libpathSetting == null ? " (not set)" : "=" + libpathSetting)
                    .append(", the system loader's folders and the usual CUDA and pip nvidia-* places: ")
                    .append(searched.isEmpty() ? "no such folder exists" : joined(searched));
            return s.toString();
        }

        private static String joined(List<Path> paths) {
            StringBuilder s = new StringBuilder();
            for (Path p : paths) s.append(s.isEmpty() ? "" : ", ").append(p);
            return s.toString();
        }
    }

    private static final String ARCH_DIR = "x86_64-linux-gnu";
    private static boolean loaded;

    private CudaLibraries() {}

    /** Looks for the libraries in the places listed in the class comment; loads nothing. */
    public static Found find() {
        String libpath = System.getProperty(LIBPATH_PROPERTY);
        return find(folders(libpath, System.getenv("LD_LIBRARY_PATH"), Path.of("/"),
                Path.of(System.getProperty("user.home", "/nonexistent"))), libpath);
    }

    /**
     * Loads every library with {@code System.load} (idempotent). Throws {@link IllegalStateException} saying
     * what was looked for, where and what was found when a library is missing or the system refuses one.
     *
     * <p>cuDNN 9 and NVRTC open further libraries of their own later, by file name only ({@code
     * libcudnn_cnn.so.9}, {@code libnvrtc-builtins.so.13.0}). When they came from a folder the system loader
     * does not search (a pip package, the libpath setting), that would fail at the first convolution or
     * compilation. So those companions, where they lie next to the library, are loaded here as well: a library
     * already loaded satisfies a later open by the same name. That part is best effort; a companion that does
     * not load is left to the library's own search, whose failure it reports with its status.
     */
    @SuppressWarnings("restricted") // System.load: what this module exists to do
    public static synchronized void load() {
        if (loaded) return;
        Found found = find();
        if (!found.complete()) {
            throw new IllegalStateException("cannot use CUDA: " + found.describe());
        }
        for (Library l : Library.values()) {
            Path file = found.paths().get(l);
            try {
                System.load(file.toString());
            } catch (UnsatisfiedLinkError e) {
                throw new IllegalStateException("cannot load " + l.fileName + " (" + l.description + ") from "
                        + file + ": " + e.getMessage() + ". Search: " + found.describe(), e);
            }
        }
        for (Library l : Library.values()) {
            if (l.companions != null) loadCompanions(found.paths().get(l).getParent(), l.companions);
        }
        loaded = true;
    }

    /**
     * Loads the files matching {@code glob} in {@code folder}. Their mutual dependencies are not known here, so
     * the list is tried again while a pass loads something: a file whose dependency came later loads then.
     */
    @SuppressWarnings("restricted")
    private static void loadCompanions(Path folder, String glob) {
        List<Path> pending = new ArrayList<>(matches(folder, glob));
        Collections.sort(pending);
        boolean progress = true;
        while (progress && !pending.isEmpty()) {
            progress = false;
            for (var it = pending.iterator(); it.hasNext(); ) {
                Path file = it.next();
                try {
                    System.load(file.toString());
                    it.remove();
                    progress = true;
                } catch (UnsatisfiedLinkError e) {
                    // retried in the next pass; finally left to the library itself (see load())
                }
            }
        }
    }

    /** Whether {@link #load()} has succeeded in this JVM. */
    public static synchronized boolean isLoaded() {
        return loaded;
    }

    /** First folder (in order) holding each library's file; keeps the list of folders that exist. */
    static Found find(List<Path> folders, String libpathSetting) {
        Map<Library, Path> paths = new EnumMap<>(Library.class);
        List<Path> searched = new ArrayList<>();
        Set<Path> seen = new HashSet<>();
        for (Path folder : folders) {
            if (!Files.isDirectory(folder) || !seen.add(realPath(folder))) continue; // cuda -> cuda-13.0 once
            searched.add(folder);
            for (Library l : Library.values()) {
                if (paths.containsKey(l)) continue;
                Path file = folder.resolve(l.fileName);
                // Regular file or a link to one; an empty fake file counts too (tests use them), a folder not.
                if (Files.isRegularFile(file)) paths.put(l, file.toAbsolutePath());
            }
        }
        return new Found(paths, searched, libpathSetting);
    }

    private static Path realPath(Path folder) {
        try {
            return folder.toRealPath();
        } catch (IOException e) {
            return folder.toAbsolutePath().normalize();
        }
    }

    /**
     * Every folder to look in, in discovery order, without duplicates. {@code root} and {@code home} stand for
     * "/" and the user's home so that a test can point the whole search at a fake tree.
     */
    static List<Path> folders(String libpath, String ldLibraryPath, Path root, Path home) {
        Set<Path> folders = new LinkedHashSet<>();
        addPathList(folders, libpath);
        // What dlopen("libX.so.N") would search, in its order: LD_LIBRARY_PATH, then the ld.so.cache (built from
        // ld.so.conf), then the trusted folders.
        addPathList(folders, ldLibraryPath);
        folders.addAll(ldSoConfFolders(root.resolve("etc/ld.so.conf"), root));
        for (String trusted : List.of("lib/" + ARCH_DIR, "usr/lib/" + ARCH_DIR, "lib64", "usr/lib64", "lib", "usr/lib")) {
            folders.add(root.resolve(trusted));
        }
        // The usual places.
        for (Path cuda : sortedMatches(root.resolve("usr/local"), "cuda*")) {
            folders.add(cuda.resolve("targets/x86_64-linux/lib"));
            folders.add(cuda.resolve("lib64"));
        }
        folders.add(root.resolve("usr/lib/wsl/lib")); // libcuda.so.1 under WSL 2
        for (Path sitePackages : pythonSitePackages(root, home)) {
            for (String pkg : List.of("cu13", "cublas", "cudnn", "cuda_runtime", "cuda_nvrtc")) {
                folders.add(sitePackages.resolve("nvidia").resolve(pkg).resolve("lib"));
            }
        }
        List<Path> list = new ArrayList<>();
        for (Path p : folders) list.add(p.normalize());
        return List.copyOf(new LinkedHashSet<>(list));
    }

    private static void addPathList(Set<Path> folders, String list) {
        if (list == null || list.isBlank()) return;
        for (String part : list.split(java.io.File.pathSeparator)) {
            if (!part.isBlank()) folders.add(Path.of(part.trim()));
        }
    }

    /** Folders named in an ld.so.conf file, following its {@code include} lines (globs allowed). */
    static List<Path> ldSoConfFolders(Path conf, Path root) {
        List<Path> out = new ArrayList<>();
        readLdSoConf(conf, root, out, 0);
        return out;
    }

    private static void readLdSoConf(Path conf, Path root, List<Path> out, int depth) {
        if (depth > 8 || !Files.isRegularFile(conf)) return; // includes that loop are cut off
        List<String> lines;
        try {
            lines = Files.readAllLines(conf);
        } catch (IOException e) {
            return; // an unreadable configuration only narrows the search
        }
        for (String raw : lines) {
            String line = raw.replaceFirst("#.*", "").trim();
            if (line.isEmpty()) continue;
            if (line.startsWith("include ") || line.startsWith("include\t")) {
                String pattern = line.substring("include".length()).trim();
                Path p = underRoot(root, pattern.startsWith("/") ? pattern : conf.getParent().resolve(pattern).toString());
                List<Path> includes = new ArrayList<>(matches(p.getParent(), p.getFileName().toString()));
                Collections.sort(includes); // in name order, as ldconfig reads them
                for (Path included : includes) {
                    readLdSoConf(included, root, out, depth + 1);
                }
            } else if (!line.startsWith("hwcap")) {
                out.add(underRoot(root, line));
            }
        }
    }

    private static Path underRoot(Path root, String path) {
        if (!path.startsWith("/")) return Path.of(path);
        return root.resolve(path.substring(1));
    }

    /** Site-packages and dist-packages folders of the usual Python installs. */
    private static List<Path> pythonSitePackages(Path root, Path home) {
        List<Path> libs = new ArrayList<>();
        String venv = System.getenv("VIRTUAL_ENV");
        if (venv != null && !venv.isBlank()) libs.add(Path.of(venv, "lib"));
        for (Path opt : sortedMatches(root.resolve("opt"), "*")) libs.add(opt.resolve(".venv/lib"));
        libs.add(root.resolve("usr/local/lib"));
        libs.add(root.resolve("usr/lib"));
        libs.add(home.resolve(".local/lib"));
        List<Path> out = new ArrayList<>();
        for (Path lib : libs) {
            for (Path python : sortedMatches(lib, "python3*")) {
                out.add(python.resolve("site-packages"));
                out.add(python.resolve("dist-packages"));
            }
        }
        return out;
    }

    /** Entries of {@code folder} matching a glob, newest-looking first (reverse name order: cuda-13.1 before 13.0). */
    private static List<Path> sortedMatches(Path folder, String glob) {
        List<Path> out = new ArrayList<>(matches(folder, glob));
        // "cuda" (the distribution's chosen default link) comes before the numbered ones.
        out.sort((a, b) -> {
            String x = a.getFileName().toString(), y = b.getFileName().toString();
            if (x.equals(y)) return 0;
            if (x.equals("cuda")) return -1;
            if (y.equals("cuda")) return 1;
            return y.compareTo(x);
        });
        return out;
    }

    private static List<Path> matches(Path folder, String glob) {
        if (folder == null || !Files.isDirectory(folder)) return List.of();
        List<Path> out = new ArrayList<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(folder, glob)) {
            entries.forEach(out::add);
        } catch (IOException e) {
            return List.of(); // an unreadable folder only narrows the search
        }
        return out;
    }
}
