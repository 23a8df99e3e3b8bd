package dev.polaformer.cuda;

import dev.polaformer.cuda.CudaException.Api;
import dev.polaformer.cuda.bindings.cublas.Cublas;
import dev.polaformer.cuda.bindings.cudnn.Cudnn;
import dev.polaformer.cuda.bindings.driver.CudaDriver;
import dev.polaformer.cuda.bindings.nvrtc.Nvrtc;
import dev.polaformer.cuda.bindings.runtime.CudaRuntime;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CudaExceptionTest {

    @Test
    void theNumbersWrittenOutAreTheHeaders() {
        // Reading generated constants needs no library: they are plain fields.
        assertEquals(CudaRuntime.cudaSuccess(), Api.RUNTIME.success());
        assertEquals(CudaRuntime.cudaErrorMemoryAllocation(), Api.RUNTIME.outOfMemory());
        assertEquals(CudaDriver.CUDA_SUCCESS(), Api.DRIVER.success());
        assertEquals(CudaDriver.CUDA_ERROR_OUT_OF_MEMORY(), Api.DRIVER.outOfMemory());
        assertEquals(Cublas.CUBLAS_STATUS_SUCCESS(), Api.CUBLAS.success());
        assertEquals(Cublas.CUBLAS_STATUS_ALLOC_FAILED(), Api.CUBLAS.outOfMemory());
        assertEquals(Cudnn.CUDNN_STATUS_SUCCESS(), Api.CUDNN.success());
        assertEquals(Cudnn.CUDNN_STATUS_ALLOC_FAILED(), Api.CUDNN.outOfMemory());
        assertEquals(Nvrtc.NVRTC_SUCCESS(), Api.NVRTC.success());
        assertEquals(Nvrtc.NVRTC_ERROR_OUT_OF_MEMORY(), Api.NVRTC.outOfMemory());
    }

    @Test
    void successPassesAndAFailureNamesTheCallAndTheError() {
        assertDoesNotThrow(() -> CudaException.checkRuntime(0, "cudaMalloc"));
        assertDoesNotThrow(() -> CudaException.checkCudnn(0, "cudnnCreate"));
        var e = assertThrows(CudaException.class, () -> CudaException.checkRuntime(2, "cudaMalloc(268435456 bytes)"));
        assertEquals(Api.RUNTIME, e.api());
        assertEquals(2, e.status());
        assertEquals("cudaMalloc(268435456 bytes)", e.call());
        // Where libcudart is loaded the library names the error; here it cannot be asked and the number is kept.
        String m = e.getMessage();
        assertTrue(m.equals("cudaMalloc(268435456 bytes): cudaErrorMemoryAllocation (out of memory)")
                || m.equals("cudaMalloc(268435456 bytes): CUDA runtime error 2"), m);
        assertTrue(CudaException.isOutOfMemory(e.api(), e.status()));
    }

    @Test
    void everyApiHasItsOwnCheck() {
        assertEquals(Api.DRIVER, assertThrows(CudaException.class, () -> CudaException.checkDriver(100, "cuInit")).api());
        assertEquals(Api.CUBLAS, assertThrows(CudaException.class, () -> CudaException.checkCublas(7, "cublasSgemm_v2")).api());
        assertEquals(Api.CUDNN, assertThrows(CudaException.class, () -> CudaException.checkCudnn(2000, "cudnnCreate")).api());
        var nvrtc = assertThrows(CudaException.class, () -> CudaException.checkNvrtc(6, "nvrtcCompileProgram(kernels.cu)"));
        assertTrue(nvrtc.getMessage().startsWith("nvrtcCompileProgram(kernels.cu): "), nvrtc.getMessage());
        assertFalse(CudaException.isOutOfMemory(Api.NVRTC, 6));
    }
}
