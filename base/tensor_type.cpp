#include "base/tensor_type.h"

#include <cctype>

namespace llamascope {

std::optional<TensorType> tensor_type_from_id(uint32_t id) {
  for (const TensorTypeInfo& info : kTensorTypes)
    if (static_cast<uint32_t>(info.type) == id) return info.type;
  return std::nullopt;
}

std::optional<TensorType> tensor_type_from_name(std::string_view name) {
  for (const TensorTypeInfo& info : kTensorTypes) {
    std::string_view known = info.name;
    if (known.size() != name.size()) continue;
    bool same = true;
    for (size_t i = 0; i < name.size() && same; ++i)
      same = std::toupper(static_cast<unsigned char>(name[i])) == known[i];
    if (same) return info.type;
  }
  return std::nullopt;
}

}  // namespace llamascope
