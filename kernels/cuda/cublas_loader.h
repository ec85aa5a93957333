// The few cuBLAS entry points the CUDA backend calls, resolved at run time from the shared library
// (cublas_loader.cu says why it is not linked).
#pragma once

#include <cublas_v2.h>

#include <string>
#include <type_traits>

#include "base/error.h"

namespace llamascope::cuda {

struct CublasApi {
  decltype(&cublasCreate_v2) create;
  decltype(&cublasDestroy_v2) destroy;
  decltype(&cublasSetStream_v2) set_stream;
  decltype(&cublasSetMathMode) set_math_mode;
  decltype(&cublasSetWorkspace_v2) set_workspace;
  decltype(&cublasSgemm_v2) sgemm;
  // cublasGemmEx is overloaded in C++ (a legacy cudaDataType_t algorithm form): the C signature spelled out.
  cublasStatus_t (*gemm_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void*,
                            const void*, cudaDataType, int, const void*, cudaDataType, int, const void*,
                            void*, cudaDataType, int, cublasComputeType_t, cublasGemmAlgo_t);
  decltype(&cublasGetStatusString) status_string;
};

// Empty when cuBLAS loaded, else why not ("cuBLAS not found (libcublas.so.13: cannot open ...)").
std::string cublas_unavailable_reason();
// Throws Error when cuBLAS could not be loaded.
const CublasApi& cublas();

}  // namespace llamascope::cuda

#define CUBLAS_CHECK(call)                                                                                  \
  do {                                                                                                      \
    const cublasStatus_t cublas_check_status_ = (call);                                                     \
    if (cublas_check_status_ != CUBLAS_STATUS_SUCCESS)                                                      \
      throw ::llamascope::Error(std::string("cuBLAS error: ") + #call + ": " +                              \
                                ::llamascope::cuda::cublas().status_string(cublas_check_status_) + " at " + \
                                __FILE__ + ":" + std::to_string(__LINE__));                                 \
  } while (0)
