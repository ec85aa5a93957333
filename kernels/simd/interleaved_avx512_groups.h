// The one or two consecutive interleaved groups an AVX-512 float or BF16-dot call covers (rows_in_group up to
// 32), with the mask of each group's live rows. Included only by files compiled for AVX-512.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <utility>

#include "kernels/simd/interleaved.h"

namespace llamascope::simd {

struct Groups {
  const uint8_t* first;
  size_t bytes;       // of one group
  __mmask16 keep[2];  // the live rows of each group
  bool two;           // the call covers the group after `first` too

  Groups(TensorType type, const uint8_t* group, int64_t cols, int rows_in_group)
      : first(group),
        bytes(interleaved_group_bytes(type, cols)),
        keep{live_rows(rows_in_group), live_rows(rows_in_group - kGroupRows)},
        two(rows_in_group > kGroupRows) {}

  // The two groups of a call as two one-group calls, in order. BF16-dot decode (one activation row) reads
  // them so: one stream after the other measured 1-5% faster than two interleaved streams (for F16 it was
  // 11% slower, so the float kernels keep both). Each output is still one chain in k order: same bits.
  std::pair<Groups, Groups> split(TensorType type, int64_t cols, int rows_in_group) const {
    return {Groups(type, first, cols, kGroupRows),
            Groups(type, first + bytes, cols, rows_in_group - kGroupRows)};
  }

  static __mmask16 live_rows(int rows) {
    return rows >= kGroupRows ? __mmask16(0xFFFF) : rows <= 0 ? __mmask16(0) : __mmask16((1u << rows) - 1);
  }
};

}  // namespace llamascope::simd
