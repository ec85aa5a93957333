// Tensor (weight) types as GGUF numbers them, with their block geometry. Shared by the loaders, every
// backend, the quantizer and the harness, so that a type id read from a file means one thing everywhere.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace llamascope {

// Values are GGUF's ggml_type ids; they are written to and read from files as they are.
enum class TensorType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  BF16 = 30,
};

// Every type a model's weights may have (not the activation formats Q8_1 and Q8_K), for code that covers
// them all: checks, benchmarks, tests.
inline constexpr TensorType kModelWeightTypes[] = {
    TensorType::F32,  TensorType::F16,  TensorType::BF16, TensorType::Q8_0, TensorType::Q4_0,
    TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1, TensorType::Q2_K, TensorType::Q3_K,
    TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K};

struct TensorTypeInfo {
  TensorType type;
  const char* name;     // as GGUF tools print it: "F32", "Q4_K", ...
  int64_t block_elems;  // elements per block (1 for float types)
  size_t block_bytes;   // bytes per block
  bool quantized;
};

// Every type this build knows. In the header so that type_info is constexpr: device code derives its block
// addressing from the same numbers (kernels/cuda/dequant.cuh).
inline constexpr std::array<TensorTypeInfo, 15> kTensorTypes = {{
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

// nullopt for a type id this build does not know (an unknown id in a file is an error, never a guess).
std::optional<TensorType> tensor_type_from_id(uint32_t id);
constexpr const TensorTypeInfo& type_info(TensorType type) {
  for (const TensorTypeInfo& info : kTensorTypes)
    if (info.type == type) return info;
  throw std::logic_error("type_info: unknown tensor type");
}
inline const char* type_name(TensorType type) {
  return type_info(type).name;
}

// Case-insensitive: "q4_0", "Q4_0", "f16". nullopt when unknown.
std::optional<TensorType> tensor_type_from_name(std::string_view name);

// Bytes of a row of n elements; n must be a multiple of the block size (callers validate first).
inline size_t row_bytes(TensorType type, int64_t n) {
  const TensorTypeInfo& info = type_info(type);
  return static_cast<size_t>(n / info.block_elems) * info.block_bytes;
}

}  // namespace llamascope
