// The oneDNN runtime this build links (oneDNN 3.x from the onednn-devel wheel, whose CPU engine runs on
// SYCL over Intel's OpenCL CPU runtime): making its CPU engine work from a plain build tree, and naming the
// library, runtime and ISA for `llamascope kernels`.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>
#include <string>

namespace llamascope {

// The CPU engine. The wheel's OpenCL ICD files point at a path that does not exist on this machine, so
// unless the user set OCL_ICD_FILENAMES, it is set (before the first engine) to the OpenCL CPU runtime
// of the prefix this build was configured with. Throws dnnl::error when no CPU device is found.
dnnl::engine onednn_cpu_engine();
// Empty when an engine can be made here, else why not (for BackendEntry::unavailable_reason).
std::string onednn_unavailable_reason();
// "3.13.2 (SYCL CPU runtime, ISA avx512_core_bf16)".
std::string onednn_runtime_summary();

}  // namespace llamascope
