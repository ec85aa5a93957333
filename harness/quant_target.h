// The output types the model tools accept by name (a tensor type, or a K-quant mix such as Q4_K_M) and the
// rules that give each tensor its type under one. `quantize` and `synth` share them so that a synthesized
// file has exactly the tensor types quantizing its F32 twin would give.
#pragma once

#include <cstdint>
#include <string>

#include "base/tensor_type.h"

namespace llamascope {

struct QuantTarget {
  std::string name;  // upper case, as the user would write it: "Q4_K_M"
  TensorType base;
  bool mix_m = false;  // Q4_K_M / Q5_K_M rules
  uint32_t file_type;  // general.file_type (llama.cpp's LLAMA_FTYPE numbering)
};

// Case-insensitive; Error listing the valid names for anything else.
QuantTarget parse_quant_target(const std::string& name);

// "F32 F16 ... Q4_K_M Q5_K_M", for help texts and errors.
std::string quant_target_names();

// The type a tensor gets under `target` before any fallback: 1-D tensors (norms, rope factors) stay F32;
// the *_M mixes give the classifier (output.weight, or token_embd.weight when a model without
// output.weight ties them), and attn_v / ffn_down of some layers, Q6_K.
TensorType choose_tensor_type(const QuantTarget& target, const std::string& tensor_name, size_t n_dims,
                              int n_layers, bool has_output);

// A type of similar precision with 32-element blocks for rows of `row` elements that `chosen`'s block
// does not divide; F16 when even 32 does not divide the row.
TensorType fallback_type(TensorType chosen, int64_t row);

}  // namespace llamascope
