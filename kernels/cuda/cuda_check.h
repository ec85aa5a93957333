// Error checking for every CUDA runtime and cuBLAS call of the CUDA backend: a failure becomes one
// llamascope::Error line naming the call, the CUDA error and where it happened, never a silent wrong number.
#pragma once

#include <cuda_runtime_api.h>

#include <string>

#include "base/error.h"

namespace llamascope::cuda {

[[noreturn]] inline void throw_cuda(cudaError_t err, const char* call, const char* file, int line) {
  std::string what = err == cudaErrorMemoryAllocation ? "out of device memory" : "CUDA error";
  throw Error(what + ": " + call + ": " + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ") at " +
              file + ":" + std::to_string(line));
}

}  // namespace llamascope::cuda

#define CUDA_CHECK(call)                                                          \
  do {                                                                            \
    const cudaError_t cuda_check_err_ = (call);                                   \
    if (cuda_check_err_ != cudaSuccess)                                           \
      ::llamascope::cuda::throw_cuda(cuda_check_err_, #call, __FILE__, __LINE__); \
  } while (0)

// After a kernel launch: a bad configuration or a missing kernel image shows up here, at the launch that
// caused it (asynchronous faults surface at the next synchronising call, also checked).
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())
