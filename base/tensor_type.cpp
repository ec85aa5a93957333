#include "base/tensor_type.h"

#include <array>
#include <cctype>
#include <stdexcept>

namespace llamascope {
namespace {

constexpr std::array<TensorTypeInfo, 15> kTypes = {{
    {TensorType::F32, "F32", 1, 4, false},
    {TensorType::F16, "F16", 1, 2, false},
    {TensorType::Q4_0, "Q4_0", 32, 18, true},
    {TensorType::Q4_1, "Q4_1", 32, 20, true},
    {TensorType::Q5_0, "Q5_0", 32, 22, true},
    {TensorType::Q5_1, "Q5_1", 32, 24, true},
    {TensorType::Q8_0, "Q8_0", 32, 34, true},
    {TensorType::Q8_1, "Q8_1", 32, 36, true},
    {TensorType::Q2_K, "Q2_K", 256, 84, true},
    {TensorType::Q3_K, "Q3_K", 256, 110, true},
    {TensorType::Q4_K, "Q4_K", 256, 144, true},
    {TensorType::Q5_K, "Q5_K", 256, 176, true},
    {TensorType::Q6_K, "Q6_K", 256, 210, true},
    {TensorType::Q8_K, "Q8_K", 256, 292, true},
    {TensorType::BF16, "BF16", 1, 2, false},
}};

}  // namespace

std::optional<TensorType> tensor_type_from_id(uint32_t id) {
  for (const TensorTypeInfo& info : kTypes)
    if (static_cast<uint32_t>(info.type) == id) return info.type;
  return std::nullopt;
}

const TensorTypeInfo& type_info(TensorType type) {
  for (const TensorTypeInfo& info : kTypes)
    if (info.type == type) return info;
  throw std::logic_error("type_info: unknown tensor type");
}

std::optional<TensorType> tensor_type_from_name(std::string_view name) {
  for (const TensorTypeInfo& info : kTypes) {
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
