// The scalar backend: the readable reference every other backend is checked against. Plain loops, double
// accumulation, one thread, no repacking; every op and every tensor type.
#pragma once

#include "kernels/backend.h"

namespace llamascope {

BackendEntry scalar_backend_entry();

}  // namespace llamascope
