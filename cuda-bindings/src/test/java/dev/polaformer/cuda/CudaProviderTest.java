package dev.polaformer.cuda;

import dev.polaformer.numerics.BackendProvider;
import dev.polaformer.numerics.Backends;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

class CudaProviderTest {
    @TempDir
    Path dir;

    @AfterEach
    void clear() {
        System.clearProperty(CudaLibraries.LIBPATH_PROPERTY);
        System.clearProperty(Backends.PROPERTY);
    }

    @Test
    void registeredAboveCpu() {
        var ids = Backends.providers().stream().map(BackendProvider::id).toList();
        assertEquals("cuda", ids.getFirst(), "highest priority first: " + ids);
        assertTrue(ids.indexOf("cuda") < ids.indexOf("cpu"), ids.toString());
    }

    @Test
    void requestingCudaWithoutCudaNamesWhatIsMissingAndWhatIsAvailable() {
        assumeFalse(NoBindingClassLoadedTest.cudaAvailableHere(), "cuda is available here");
        System.setProperty(Backends.PROPERTY, "cuda");
        var e = assertThrows(IllegalStateException.class, Backends::get);
        String m = e.getMessage();
        assertTrue(m.startsWith("backend 'cuda' is not available: "), m);
        CudaLibraries.Found here = CudaLibraries.find();
        if (!here.complete()) {
            for (CudaLibraries.Library l : here.missing()) assertTrue(m.contains(l.fileName()), m);
        }
        assertTrue(m.endsWith("Available: cpu, reference"), m);
    }

    @Test
    void filesThatAreNoLibraryAreReportedByTheDriverProbe() throws IOException {
        for (CudaLibraries.Library l : CudaLibraries.Library.values()) Files.writeString(dir.resolve(l.fileName()), "not a library");
        System.setProperty(CudaLibraries.LIBPATH_PROPERTY, dir.toString());
        BackendProvider.Availability a = new CudaProvider().availability();
        assertFalse(a.available());
        assertTrue(a.reason().startsWith("the NVIDIA driver library " + dir.resolve("libcuda.so.1") + " cannot be opened"),
                a.reason());
        assertFalse(CudaLibraries.isLoaded(), "availability loads nothing through System.load");
    }
}
