package dev.polaformer.cuda;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The classes that run before {@link CudaLibraries#load()} (the provider, discovery, the exception type
 * itself) must not even name a generated binding class: a reference in the constant pool is one refactoring
 * away from loading it. The class files are searched for the package's internal name.
 */
class BindingReferencesTest {
    private static final String BINDINGS = "dev/polaformer/cuda/bindings/";

    private static final List<String> BEFORE_LOAD = List.of(
            "CudaProvider", "CudaProvider$DriverProbe", "CudaProvider$DriverProbe$Result",
            "CudaLibraries", "CudaLibraries$Found", "CudaLibraries$Library",
            "CudaException", "CudaException$Api");

    @Test
    void classesReachedBeforeLoadNameNoBindingClass() throws IOException {
        for (String c : BEFORE_LOAD) assertFalse(classFile(c).contains(BINDINGS), c + " refers to a binding class");
    }

    @Test
    void theSearchFindsAReferenceWhereThereIsOne() throws IOException {
        assertTrue(classFile("CudaException$Names").contains(BINDINGS), "the error-name lookup does use the bindings");
    }

    private static String classFile(String simpleName) throws IOException {
        try (InputStream in = CudaProvider.class.getResourceAsStream(simpleName + ".class")) {
            assertNotNull(in, simpleName + ".class");
            return new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
        }
    }
}
