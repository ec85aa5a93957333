// Shared by the AVX2 interleaved kernels (interleaved_avx2.cpp, interleaved_float_avx2.cpp; include it only
// from files compiled for AVX2): a group's results, kept as two 8-lane halves per activation row.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/simd/interleaved.h"

namespace llamascope::simd {
namespace {  // internal linkage: AVX2 code must not be merged into code for other CPUs

// out[j * out_stride + r] = lane r of (acc[2 j], acc[2 j + 1]) for r < rows_in_group and j < R.
template <int R>
void store_rows(const __m256* acc, float* out, int64_t out_stride, int rows_in_group) {
  for (int j = 0; j < R; ++j) {
    alignas(32) float lanes[kGroupRows];
    _mm256_store_ps(lanes, acc[2 * j]);
    _mm256_store_ps(lanes + 8, acc[2 * j + 1]);
    std::memcpy(out + j * out_stride, lanes, sizeof(float) * static_cast<size_t>(rows_in_group));
  }
}

}  // namespace
}  // namespace llamascope::simd
