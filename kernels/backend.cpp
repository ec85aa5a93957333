#include "kernels/backend.h"

#include <stdexcept>

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

const char* memory_space_name(MemorySpace space) {
  return space == MemorySpace::host ? "host" : "cuda";
}

void Backend::unsupported(OpKind op) const {
  throw std::logic_error("backend '" + name() + "' was asked for " + op_kind_name(op) +
                         ", which its supports() declines");
}

void Backend::embed(const Weight&, std::span<const int32_t>, Mat) {
  unsupported(OpKind::embed);
}
void Backend::rmsnorm(Mat, const Weight&, float, Mat) {
  unsupported(OpKind::rmsnorm);
}
void Backend::matmul(const Weight&, Mat, Mat) {
  unsupported(OpKind::matmul);
}
void Backend::rope(Mat, Mat, int64_t, const RopeParams&) {
  unsupported(OpKind::rope);
}
void Backend::attention(Mat, Mat, Mat, int64_t, const AttentionShape&, Mat) {
  unsupported(OpKind::attention);
}
void Backend::swiglu(Mat, Mat, Mat) {
  unsupported(OpKind::swiglu);
}
void Backend::add(Mat, Mat) {
  unsupported(OpKind::add);
}

}  // namespace llamascope
