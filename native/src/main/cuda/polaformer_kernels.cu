// The whole kernel module in one translation unit: nvcc builds polaformer_kernels.fatbin from this file, and
// an NVRTC build compiles it with the family files (and pf_common.cuh) passed as headers under these names.
#include "pointwise.cu"
#include "norm.cu"
#include "depthwise.cu"
#include "optimizer.cu"
#include "attention_linear.cu"
#include "attention_softmax.cu"
