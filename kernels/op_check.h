// The op checker (in the spirit of llama.cpp's test-backend-ops): every op of the kernel interface, for each
// weight type and a set of shapes (odd sizes, n = 1 and n > 1, several GQA ratios, positions deep in the
// cache), run on a backend and compared with a float64 reference by normalized MSE, with NaN/Inf and
// out-of-bounds writes (guard rows and columns around every output) checked separately.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "kernels/op_desc.h"

namespace llamascope {

struct OpCheckResult {
  std::string backend;
  OpDesc op;
  double nmse = 0;
  double limit = 0;
  bool finite = true;
  bool guards_intact = true;
  bool supported = true;  // false: the backend does not take this op/type (not a failure)
  bool passed() const { return !supported || (finite && guards_intact && nmse <= limit); }
};

// The standard case list (a few hundred small cases; runs in seconds per backend). A case prints as
// OpDesc::str(), and `llamascope kernels --check --case '<that text>'` re-runs exactly that case: the inputs
// are drawn from the seed, the op and the type only, never from the case's place in the list.
std::vector<OpDesc> default_op_cases();

// The normalized-MSE limit of a case; the reasons are written beside the numbers in op_check.cpp.
double op_check_limit(const OpDesc& c);

// Runs `c` on `backend` with inputs drawn from `seed`; never throws for a numeric mismatch.
OpCheckResult check_op(Backend& backend, const OpDesc& c, uint64_t seed = 1);

// Throws Error when checking `c` would hold more values in memory than the checker allows (2^26 in any
// operand): a pasted case is checked in memory, with float64 references beside every value.
void check_op_size(const OpDesc& c);

}  // namespace llamascope
