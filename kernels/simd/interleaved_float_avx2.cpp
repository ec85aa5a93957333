// AVX2 + FMA + F16C matmul over F32 / F16 / BF16 weights interleaved 16 rows at a time (interleaved.h), for
// CPUs without AVX-512. Lane r of the two 256-bit halves is row r (rows 0-7, 8-15); each step of k
// multiplies the 16 rows' element k by activation element k broadcast, so a group's weights are converted
// once per batch of up to six activation rows instead of once per (row, activation row) pair.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "kernels/simd/interleaved.h"
#include "kernels/simd/interleaved_avx2_store.h"
#include "kernels/simd/row_passes.h"

namespace llamascope::simd {
namespace {

// Eight consecutive elements of a group's F32 / F16 k-row as floats.
template <TensorType kType>
inline __m256 load8(const uint8_t* p) {
  if constexpr (kType == TensorType::F32) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(p));
  } else {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
}

// acc += w * x[k] broadcast, for one activation row's two halves.
[[gnu::always_inline]] inline void multiply_add(__m256& lo, __m256& hi, __m256 w_lo, __m256 w_hi,
                                                const float* x) {
  const __m256 xk = _mm256_broadcast_ss(x);
  lo = _mm256_fmadd_ps(w_lo, xk, lo);
  hi = _mm256_fmadd_ps(w_hi, xk, hi);
}

// out[j][r] = sum over k of w[r][k] * x[j][k] for R activation rows: one fused multiply-add chain per
// output, in k order, so the result does not depend on R. The rows are a parameter pack (J...) rather than a
// loop so that every accumulator index is a constant: GCC then keeps them in registers instead of storing
// each one back to the stack on every step.
template <TensorType kType, size_t... J>
void float_rows(const uint8_t* group, int64_t cols, const uint8_t* activations, size_t activation_stride,
                float* out, int64_t out_stride, int live_rows, std::index_sequence<J...>) {
  constexpr int R = sizeof...(J);
  constexpr size_t kStep = kGroupRows * kElementBytes<kType>;
  const float* x[R] = {reinterpret_cast<const float*>(activations + J * activation_stride)...};
  __m256 lo[R] = {(static_cast<void>(J), _mm256_setzero_ps())...};
  __m256 hi[R] = {(static_cast<void>(J), _mm256_setzero_ps())...};
  const uint8_t* w = group;
  if constexpr (kType == TensorType::BF16) {
    // Lane r holds row r's pair: element k in the low 16 bits, k + 1 in the high ones.
    const __m256i high_half = _mm256_set1_epi32(static_cast<int32_t>(0xFFFF0000u));
    for (int64_t k = 0; k < cols; k += 2, w += 2 * kStep) {
      prefetch_ahead(w, 2 * kStep);
      const __m256i p0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w));
      const __m256i p1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + kStep));
      const __m256 even0 = _mm256_castsi256_ps(_mm256_slli_epi32(p0, 16));
      const __m256 even1 = _mm256_castsi256_ps(_mm256_slli_epi32(p1, 16));
      (multiply_add(lo[J], hi[J], even0, even1, x[J] + k), ...);
      const __m256 odd0 = _mm256_castsi256_ps(_mm256_and_si256(p0, high_half));
      const __m256 odd1 = _mm256_castsi256_ps(_mm256_and_si256(p1, high_half));
      (multiply_add(lo[J], hi[J], odd0, odd1, x[J] + k + 1), ...);
    }
  } else {
    for (int64_t k = 0; k < cols; ++k, w += kStep) {
      if (k * kStep % 64 == 0)  // once per cache line of the stream
        prefetch_ahead(w, 64);
      const __m256 w0 = load8<kType>(w), w1 = load8<kType>(w + kStep / 2);
      (multiply_add(lo[J], hi[J], w0, w1, x[J] + k), ...);
    }
  }
  __m256 acc[2 * R];
  ((acc[2 * J] = lo[J], acc[2 * J + 1] = hi[J]), ...);
  store_rows<R>(acc, out, out_stride, live_rows);
}

// Six activation rows at a time: 12 accumulators, two weight vectors and a broadcast fill the 16 registers.
// BF16 takes five: its pair of weight vectors gives four, plus the mask of the high halves (with six rows
// GCC kept four accumulators on the stack).
template <TensorType kType>
void float_group(const uint8_t* group, int64_t cols, const uint8_t* activations, size_t activation_stride,
                 int64_t n, float* out, int64_t out_stride, int live_rows) {
  for_each_row_pass<kType == TensorType::BF16 ? 5 : 6>(n, [&]<int R>(int64_t i) {
    float_rows<kType>(group, cols, activations + i * activation_stride, activation_stride,
                      out + i * out_stride, out_stride, live_rows, std::make_index_sequence<R>());
  });
}

}  // namespace

void interleaved_float_group_avx2(TensorType type, const uint8_t* group, int64_t cols,
                                  const uint8_t* activations, size_t activation_stride, int64_t n, float* out,
                                  int64_t out_stride, int rows_in_group) {
  const int live_rows = std::min(rows_in_group, kGroupRows);
  visit_float_type(type, [&]<TensorType kType>() {
    float_group<kType>(group, cols, activations, activation_stride, n, out, out_stride, live_rows);
  });
}

}  // namespace llamascope::simd
