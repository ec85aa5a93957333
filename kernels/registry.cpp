#include <string>
#include <vector>

#include "kernels/backend.h"
#include "kernels/scalar/scalar_backend.h"
#include "kernels/simd/simd_backend.h"
#ifdef LLAMASCOPE_HAVE_ONEDNN
#include "kernels/onednn/onednn_backend.h"
#endif
#ifdef LLAMASCOPE_HAVE_CUDA
#include "kernels/cuda/cuda_backend.h"
#endif

namespace llamascope {

const char* op_kind_name(OpKind op) {
  switch (op) {
    case OpKind::embed:
      return "embed";
    case OpKind::rmsnorm:
      return "rmsnorm";
    case OpKind::matmul:
      return "matmul";
    case OpKind::rope:
      return "rope";
    case OpKind::attention:
      return "attention";
    case OpKind::swiglu:
      return "swiglu";
    case OpKind::add:
      return "add";
    case OpKind::count:
      break;
  }
  return "?";
}

const std::vector<BackendEntry>& backend_registry() {
  static const std::vector<BackendEntry> entries = [] {
    std::vector<BackendEntry> list;
    list.push_back(scalar_backend_entry());
    list.push_back(simd_backend_entry());
#ifdef LLAMASCOPE_HAVE_ONEDNN
    list.push_back(onednn_backend_entry());
#endif
#ifdef LLAMASCOPE_HAVE_CUDA
    list.push_back(cuda_backend_entry());
#endif
    return list;
  }();
  return entries;
}

const BackendEntry* find_backend(const std::string& name) {
  for (const BackendEntry& entry : backend_registry())
    if (entry.name == name) return &entry;
  return nullptr;
}

}  // namespace llamascope
