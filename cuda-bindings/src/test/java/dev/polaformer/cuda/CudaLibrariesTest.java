package dev.polaformer.cuda;

import dev.polaformer.cuda.CudaLibraries.Library;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/** Library discovery on a fake file tree (empty files named like the libraries): nothing is loaded. */
class CudaLibrariesTest {
    @TempDir
    Path root;

    @AfterEach
    void clear() {
        System.clearProperty(CudaLibraries.LIBPATH_PROPERTY);
    }

    private Path home() {
        return root.resolve("home/user");
    }

    private Path cudaLib() {
        return root.resolve("usr/local/cuda-13.0/targets/x86_64-linux/lib");
    }

    private Path pipCudnn() {
        return root.resolve("opt/app/.venv/lib/python3.12/site-packages/nvidia/cudnn/lib");
    }

    private Path pipCu13() {
        return home().resolve(".local/lib/python3.11/site-packages/nvidia/cu13/lib");
    }

    private Path driverDir() {
        return root.resolve("opt/nvidia/driver");
    }

    /** etc/ld.so.conf including conf.d/*.conf, one of which names the driver folder. */
    private void ldSoConf() throws IOException {
        Files.createDirectories(root.resolve("etc/ld.so.conf.d"));
        Files.writeString(root.resolve("etc/ld.so.conf"), "# comment\ninclude /etc/ld.so.conf.d/*.conf\n");
        Files.writeString(root.resolve("etc/ld.so.conf.d/a-nvidia.conf"), "/opt/nvidia/driver\n");
        Files.writeString(root.resolve("etc/ld.so.conf.d/b-other.conf"), "/opt/other/lib  # trailing comment\n");
    }

    private static Path touch(Path folder, String name) throws IOException {
        Files.createDirectories(folder);
        return Files.createFile(folder.resolve(name));
    }

    private List<Path> folders(String libpath) {
        return CudaLibraries.folders(libpath, null, root, home());
    }

    @Test
    void foldersComeInDiscoveryOrder() throws IOException {
        ldSoConf();
        Files.createDirectories(cudaLib());
        Files.createDirectories(pipCudnn());
        Files.createDirectories(pipCu13());
        Path libpath = root.resolve("mine");
        List<Path> folders = CudaLibraries.folders(libpath.toString(), "/ld/path", root, home());
        int mine = folders.indexOf(libpath);
        int ld = folders.indexOf(Path.of("/ld/path"));
        int conf = folders.indexOf(driverDir());
        int other = folders.indexOf(root.resolve("opt/other/lib"));
        int trusted = folders.indexOf(root.resolve("usr/lib/x86_64-linux-gnu"));
        int cuda = folders.indexOf(cudaLib());
        int pip = folders.indexOf(pipCudnn());
        int user = folders.indexOf(pipCu13());
        assertTrue(mine == 0 && mine < ld && ld < conf && conf < other && other < trusted && trusted < cuda
                && cuda < pip && pip < user, "order " + List.of(mine, ld, conf, other, trusted, cuda, pip, user) + " in " + folders);
    }

    @Test
    void findReportsWhereEachFileIsAndTheLibpathSettingWins() throws IOException {
        ldSoConf();
        Path driver = touch(driverDir(), "libcuda.so.1");
        touch(cudaLib(), "libcudart.so.13");
        Path cublas = touch(cudaLib(), "libcublas.so.13");
        Path cublasLt = touch(cudaLib(), "libcublasLt.so.13");
        Path nvrtc = touch(pipCu13(), "libnvrtc.so.13");
        Path cudnn = touch(pipCudnn(), "libcudnn.so.9");
        Path mine = touch(root.resolve("mine"), "libcudart.so.13");

        CudaLibraries.Found found = CudaLibraries.find(folders(mine.getParent().toString()), mine.getParent().toString());
        assertTrue(found.complete(), found.describe());
        assertEquals(mine, found.path(Library.RUNTIME).orElseThrow(), "the libpath setting comes first");
        assertEquals(driver, found.path(Library.DRIVER).orElseThrow(), "found through ld.so.conf.d");
        assertEquals(cublas, found.path(Library.CUBLAS).orElseThrow());
        assertEquals(cublasLt, found.path(Library.CUBLAS_LT).orElseThrow());
        assertEquals(nvrtc, found.path(Library.NVRTC).orElseThrow(), "pip nvidia-*-cu13 under ~/.local");
        assertEquals(cudnn, found.path(Library.CUDNN).orElseThrow(), "pip nvidia-cudnn in a venv under /opt");

        CudaLibraries.Found without = CudaLibraries.find(folders(null), null);
        assertEquals(cudaLib().resolve("libcudart.so.13"), without.path(Library.RUNTIME).orElseThrow(),
                "without the setting, the toolkit's copy");
    }

    @Test
    void whatIsMissingIsNamedWithWhereItWasLookedForAndWhatWasFound() throws IOException {
        Path runtime = touch(cudaLib(), "libcudart.so.13");
        Files.createDirectories(cudaLib().resolve("libcudnn.so.9")); // a folder of that name is no library
        CudaLibraries.Found found = CudaLibraries.find(folders(null), null);
        assertFalse(found.complete());
        assertEquals(List.of(Library.DRIVER, Library.CUBLAS_LT, Library.CUBLAS, Library.NVRTC, Library.CUDNN), found.missing());
        String m = found.describe();
        for (Library l : found.missing()) assertTrue(m.contains(l.fileName() + " (" + l.description() + ")"), m);
        assertTrue(m.contains("found: " + runtime), m);
        assertTrue(m.contains("-D" + CudaLibraries.LIBPATH_PROPERTY + " (not set)"), m);
        assertTrue(m.contains(cudaLib().toString()), "names the folders searched: " + m);
        assertFalse(m.contains(root.resolve("opt/app").toString()), "only folders that exist are listed: " + m);

        String line = found.summary();
        assertTrue(line.startsWith("missing libcuda.so.1, libcublasLt.so.13, libcublas.so.13, libnvrtc.so.13, libcudnn.so.9; found: "
                + runtime + "; searched -D" + CudaLibraries.LIBPATH_PROPERTY + " (not set)"), line);
    }

    @Test
    void aFolderReachedTwiceThroughALinkIsSearchedOnce() throws IOException {
        Files.createDirectories(cudaLib());
        Files.createSymbolicLink(root.resolve("usr/local/cuda"), root.resolve("usr/local/cuda-13.0"));
        CudaLibraries.Found found = CudaLibraries.find(folders(null), null);
        assertEquals(List.of(root.resolve("usr/local/cuda/targets/x86_64-linux/lib")), found.searched());
    }

    @Test
    void loadFailsNamingTheFileTheSystemRefused() throws IOException {
        Path fake = root.resolve("fake");
        for (Library l : Library.values()) Files.writeString(touch(fake, l.fileName()), "not a library");
        System.setProperty(CudaLibraries.LIBPATH_PROPERTY, fake.toString());
        var e = assertThrows(IllegalStateException.class, CudaLibraries::load);
        assertTrue(e.getMessage().startsWith("cannot load libcuda.so.1 (the NVIDIA driver's CUDA library) from "
                + fake.resolve("libcuda.so.1")), e.getMessage());
        assertTrue(e.getMessage().contains("=" + fake), "and says where it looked: " + e.getMessage());
        assertFalse(CudaLibraries.isLoaded());
    }

    @Test
    void loadOnThisMachineWithoutCudaSaysWhatIsMissing() {
        CudaLibraries.Found here = CudaLibraries.find();
        assumeFalse(here.complete(), "all CUDA libraries are installed here");
        var e = assertThrows(IllegalStateException.class, CudaLibraries::load);
        assertTrue(e.getMessage().startsWith("cannot use CUDA: missing " + here.missing().getFirst().fileName()), e.getMessage());
    }

    @Test
    void libpathIsAPathList() throws IOException {
        Path a = touch(root.resolve("a"), "libcuda.so.1");
        Path b = touch(root.resolve("b"), "libcudnn.so.9");
        String list = a.getParent() + File.pathSeparator + " " + File.pathSeparator + b.getParent();
        CudaLibraries.Found found = CudaLibraries.find(folders(list), list);
        assertEquals(a, found.path(Library.DRIVER).orElseThrow());
        assertEquals(b, found.path(Library.CUDNN).orElseThrow());
    }
}
