// The CUDA backend's registry entry (kernels/cuda/CMakeLists.txt registers it when the build has the CUDA
// toolkit; the generated registry calls it).
#pragma once

#include "kernels/backend.h"

namespace llamascope {

BackendEntry cuda_backend_entry();

}  // namespace llamascope
