#include "harness/quant_target.h"

#include <fmt/format.h>

#include <cctype>
#include <cstdlib>

#include "base/error.h"

namespace llamascope {
namespace {

struct PlainType {
  const char* name;
  TensorType type;
  uint32_t file_type;
};

constexpr PlainType kPlainTypes[] = {
    {"F32", TensorType::F32, 0},    {"F16", TensorType::F16, 1},    {"BF16", TensorType::BF16, 32},
    {"Q8_0", TensorType::Q8_0, 7},  {"Q4_0", TensorType::Q4_0, 2},  {"Q4_1", TensorType::Q4_1, 3},
    {"Q5_0", TensorType::Q5_0, 8},  {"Q5_1", TensorType::Q5_1, 9},  {"Q2_K", TensorType::Q2_K, 10},
    {"Q3_K", TensorType::Q3_K, 12}, {"Q4_K", TensorType::Q4_K, 15}, {"Q5_K", TensorType::Q5_K, 17},
    {"Q6_K", TensorType::Q6_K, 18}};

// Layer index from "blk.N.*", or -1.
int layer_of(const std::string& name) {
  if (name.rfind("blk.", 0) != 0) return -1;
  return std::atoi(name.c_str() + 4);
}

}  // namespace

std::string quant_target_names() {
  std::string names;
  for (const PlainType& p : kPlainTypes) names += std::string(p.name) + " ";
  return names + "Q4_K_M Q5_K_M";
}

QuantTarget parse_quant_target(const std::string& name) {
  std::string up;
  for (char c : name) up += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (up == "Q4_K_M") return {up, TensorType::Q4_K, true, 15};
  if (up == "Q5_K_M") return {up, TensorType::Q5_K, true, 17};
  for (const PlainType& p : kPlainTypes)
    if (up == p.name) return {up, p.type, false, p.file_type};
  throw Error(fmt::format("unknown quantization type '{}' (valid: {})", name, quant_target_names()));
}

// The *_M rules: attn_v and ffn_down get Q6_K in the layers where more bits pay off most (first and last
// eighth, and every third layer between), the classifier gets Q6_K — llama.cpp's choice for these mixes.
TensorType choose_tensor_type(const QuantTarget& target, const std::string& tensor_name, size_t n_dims,
                              int n_layers, bool has_output) {
  if (n_dims < 2) return TensorType::F32;  // norms and rope factors stay exact
  if (!target.mix_m) return target.base;
  if (tensor_name == "output.weight" || (!has_output && tensor_name == "token_embd.weight"))
    return TensorType::Q6_K;
  const bool attn_v = tensor_name.find("attn_v.weight") != std::string::npos;
  const bool ffn_down = tensor_name.find("ffn_down.weight") != std::string::npos;
  if ((attn_v || ffn_down) && n_layers > 0) {
    const int i = layer_of(tensor_name);
    const int n = n_layers;
    const bool more_bits = i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
    if (more_bits) return TensorType::Q6_K;
  }
  return target.base;
}

// llama.cpp's choice: Q5_0 for Q4_K and below, Q5_1 for Q5_K, Q8_0 for Q6_K.
TensorType fallback_type(TensorType chosen, int64_t row) {
  TensorType wanted = TensorType::Q5_0;
  if (chosen == TensorType::Q5_K) wanted = TensorType::Q5_1;
  if (chosen == TensorType::Q6_K || chosen == TensorType::Q8_0) wanted = TensorType::Q8_0;
  if (row % type_info(wanted).block_elems == 0) return wanted;
  return TensorType::F16;
}

}  // namespace llamascope
