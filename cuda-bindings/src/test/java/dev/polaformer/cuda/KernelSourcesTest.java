package dev.polaformer.cuda;

import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What KernelModule's NVRTC path reads from the class path (the native jar): the module's translation unit and
 * every file it includes, directly or through a family file, so the run-time compile finds all its headers.
 */
class KernelSourcesTest {
    private static final Pattern INCLUDE = Pattern.compile("#include \"([^\"]+)\"");

    @Test
    void theTranslationUnitAndEveryIncludedFileAreResources() {
        Map<String, String> sources = KernelModule.kernelSources();
        String main = sources.get(KernelModule.MAIN_SOURCE);
        assertNotNull(main, KernelModule.MAIN_SOURCE + " not found under " + KernelModule.SOURCES + ": " + sources.keySet());
        for (String text : sources.values()) {
            Matcher m = INCLUDE.matcher(text);
            while (m.find()) {
                assertTrue(sources.containsKey(m.group(1)), m.group(1) + " is included but not a resource: " + sources.keySet());
            }
        }
    }
}
