// The op checker (in the spirit of llama.cpp's test-backend-ops): every op of the kernel interface, for each
// weight type and a set of shapes (odd sizes, n = 1 and n > 1, several GQA ratios, positions deep in the
// cache), run on a backend and compared with a float64 reference by normalized MSE, with NaN/Inf and
// out-of-bounds writes (guard rows and columns around every output) checked separately.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/backend.h"

namespace llamascope {

// One test case: an op, the weight type it reads (matmul, embed), and its shapes and parameters.
struct OpCase {
  OpKind op = OpKind::matmul;
  TensorType type = TensorType::F32;  // matmul, embed: the weight's type; attention: the KV cache's
  int64_t rows = 0;                   // matmul: output width (weight rows); embed: vocabulary rows
  int64_t cols = 0;                   // matmul/embed: input width; rmsnorm/swiglu/add: row width
  int64_t n = 1;                      // activation rows (tokens in the batch)
  int n_heads = 0;                    // rope/attention
  int n_kv_heads = 0;
  int head_dim = 0;
  int64_t pos0 = 0;           // rope/attention: position of the first row
  bool freq_factors = false;  // rope: with rope_freqs factors
  // matmul: > 1 runs Backend::matmuls over this many weights of one input, the first `rows` rows and the
  // others rows / 4 + 1 (the shapes of q, k and v), all of `type`.
  int group = 1;

  // Printable form; with `llamascope kernels --check --case "<str>"` it reruns exactly this case.
  std::string str() const;
};

struct OpCheckResult {
  std::string backend;
  OpCase op_case;
  double nmse = 0;
  double limit = 0;
  bool finite = true;
  bool guards_intact = true;
  bool supported = true;  // false: the backend does not take this op/type (not a failure)
  bool passed() const { return !supported || (finite && guards_intact && nmse <= limit); }
};

// The standard case list (a few hundred small cases; runs in seconds per backend).
std::vector<OpCase> default_op_cases();

// The normalized-MSE limit of a case; the reasons are written beside the numbers in op_check.cpp.
double op_check_limit(const OpCase& c);

// Runs `c` on `backend` with inputs drawn from `seed`; never throws for a numeric mismatch.
OpCheckResult check_op(Backend& backend, const OpCase& c, uint64_t seed = 1);

}  // namespace llamascope
