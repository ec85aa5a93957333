// One description of "an op on these shapes and types", shared by the op checker (its cases), the profile
// (each op the forward ran) and llamascope-kbench (each benchmark): the op's bytes and FLOPs come from here
// (docs/results.md, "Bytes and FLOPs"), and its printed form is what `llamascope kernels --check --case`
// parses back, so a case seen in any output can be re-run as it is.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "kernels/backend.h"

namespace llamascope {

struct OpDesc {
  static constexpr int kMaxWeights = 3;

  std::string name;  // the forward's op name ("attn_qkv"); empty for an op outside a model
  OpKind kind = OpKind::matmul;
  // matmul, embed: each weight's type; rmsnorm: the gain's; attention: types[0] is the KV cache's.
  std::array<TensorType, kMaxWeights> types{TensorType::F32, TensorType::F32, TensorType::F32};
  // matmul: each weight's rows (its output width); embed: the table's rows (vocabulary).
  std::array<int64_t, kMaxWeights> rows{};
  // matmul: how many weights read the one input; more than one is a grouped matmul (Backend::matmuls).
  int weights = 1;
  int64_t cols = 0;  // matmul, embed: input width (the weights' cols); rmsnorm, swiglu, add: row width
  int64_t n = 1;     // activation rows (tokens in the batch)
  int n_heads = 0;   // rope, attention
  int n_kv_heads = 0;
  int head_dim = 0;
  int64_t pos0 = 0;           // rope, attention: position of the first row
  bool freq_factors = false;  // rope: with rope_freqs factors

  static OpDesc matmul(TensorType type, int64_t rows, int64_t cols, int64_t n);
  static OpDesc embed(TensorType type, int64_t rows, int64_t cols, int64_t n);
  static OpDesc rowwise(OpKind kind, int64_t cols, int64_t n);  // rmsnorm (F32 gain), swiglu, add
  static OpDesc rope(int n_heads, int n_kv_heads, int head_dim, int64_t n, int64_t pos0, bool freq_factors);
  static OpDesc attention(TensorType kv_type, int n_heads, int n_kv_heads, int head_dim, int64_t n,
                          int64_t pos0);
  // Another weight of a matmul's input (the next of a grouped matmul).
  OpDesc& add_weight(TensorType type, int64_t weight_rows);

  TensorType type() const { return types[0]; }
  int64_t n_keys() const { return kind == OpKind::attention ? pos0 + n : 0; }  // cache rows read
  // Bytes moved (weights as stored, activations and K/V rows as floats, each operand once) and FLOPs.
  double bytes() const;
  double flops() const;

  // "matmul type=Q4_K rows=67 cols=512 n=2", "attention kv=F16 heads=8 kv_heads=2 head_dim=64 n=4 pos0=17";
  // parse(str()) == *this.
  std::string str() const;
  // Throws Error naming what is wrong: an unknown op or key, a missing, repeated or out-of-range value, a
  // width that is not a whole number of the type's blocks.
  static OpDesc parse(std::string_view text);

  bool operator==(const OpDesc&) const = default;
};

}  // namespace llamascope
