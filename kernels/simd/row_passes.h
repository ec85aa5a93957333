// How the interleaved kernels split n activation rows into passes: whole passes of kBatch rows, then one pass
// for the rest, each given its row count as a compile-time constant so that its accumulators stay in
// registers. Header-only templates: each ISA file instantiates them with its own instruction set.
#pragma once

#include <cstdint>

namespace llamascope::simd {

// pass.template operator()<R>(first_row) for the R = rows < kMax left over.
template <int kMax, typename Pass>
[[gnu::always_inline]] inline void last_row_pass(int rows, int64_t first_row, Pass& pass) {
  if constexpr (kMax > 0) {
    if (rows == kMax) return pass.template operator()<kMax>(first_row);
    last_row_pass<kMax - 1>(rows, first_row, pass);
  }
}

// pass.template operator()<kBatch>(i) for i = 0, kBatch, ... while a whole batch is left, then the rest.
template <int kBatch, typename Pass>
[[gnu::always_inline]] inline void for_each_row_pass(int64_t n, Pass&& pass) {
  int64_t i = 0;
  for (; i + kBatch <= n; i += kBatch) pass.template operator()<kBatch>(i);
  last_row_pass<kBatch - 1>(static_cast<int>(n - i), i, pass);
}

}  // namespace llamascope::simd
