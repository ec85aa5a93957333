// The oneDNN backend: matmuls through oneDNN's matmul primitive (the vendor-library baseline a new kernel
// is compared with). F32 weights are used in place; F16 and BF16 weights are widened to F32 once in
// prepare() (the memory is reported). Other ops and quantized types fall back (KernelSet says so).
#pragma once

#include "kernels/backend.h"

namespace llamascope {

BackendEntry onednn_backend_entry();

}  // namespace llamascope
