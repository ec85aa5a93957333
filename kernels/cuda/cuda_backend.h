// The CUDA backend's registry entry (kernels/registry.cpp lists it when the build has the CUDA toolkit).
#pragma once

#include "kernels/backend.h"

namespace llamascope {

BackendEntry cuda_backend_entry();

}  // namespace llamascope
