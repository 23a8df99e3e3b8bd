package dev.polaformer.cuda;

import java.lang.foreign.SymbolLookup;

/**
 * Run in a child JVM by {@link FakeCudaLibrariesTest} with {@code -Dpolaformer.cuda.libpath} pointing at tiny
 * stand-in libraries: prints the provider's availability, loads the libraries (twice: idempotent), and prints
 * the message of one failing status per API, whose names now come through the generated bindings.
 */
public final class FakeCudaProbe {
    public static void main(String[] args) {
        var a = new CudaProvider().availability();
        System.out.println("available=" + a.available() + " reason=" + a.reason());
        if (args.length > 0 && args[0].equals("availability-only")) return;
        CudaLibraries.load();
        CudaLibraries.load();
        System.out.println("loaded=" + CudaLibraries.isLoaded());
        SymbolLookup loaded = SymbolLookup.loaderLookup();
        for (String marker : new String[] {"fake_nvrtc_builtins_marker", "fake_cudnn_ops_marker", "fake_cudnn_cnn_marker"}) {
            System.out.println(marker + "=" + loaded.find(marker).isPresent());
        }
        print(() -> CudaException.checkRuntime(2, "cudaMalloc(268435456 bytes)"));
        print(() -> CudaException.checkDriver(2, "cuModuleLoadData"));
        print(() -> CudaException.checkCublas(3, "cublasSgemm_v2"));
        print(() -> CudaException.checkCudnn(2000, "cudnnConvolutionForward"));
        print(() -> CudaException.checkNvrtc(6, "nvrtcCompileProgram"));
    }

    private static void print(Runnable check) {
        try {
            check.run();
            System.out.println("no exception");
        } catch (CudaException e) {
            System.out.println("message=" + e.getMessage());
        }
    }
}
