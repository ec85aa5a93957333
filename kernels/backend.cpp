#include "kernels/backend.h"

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

}  // namespace llamascope
