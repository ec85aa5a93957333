// AVX2 + FMA + F16C matmul over F32 / F16 / BF16 weights interleaved 16 rows at a time (interleaved.h), for
// CPUs without AVX-512. Lane r of the two 256-bit halves is row r (rows 0-7, 8-15); each step of k
// multiplies the 16 rows' element k by activation element k broadcast, so a group's weights are converted
// once per batch of up to six activation rows instead of once per (row, activation row) pair.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/simd/interleaved.h"
#include "kernels/simd/interleaved_avx2_store.h"

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

// out[j][r] = sum over k of w[r][k] * x[j][k] for R activation rows: one fused multiply-add chain per
// output, in k order, so the result does not depend on R.
template <TensorType kType, int R>
void float_rows(const uint8_t* group, int64_t cols, const uint8_t* activations, size_t activation_stride,
                float* out, int64_t out_stride, int live_rows) {
  constexpr size_t kStep = kGroupRows * kElementBytes<kType>;
  const float* x[R];
  __m256 acc[2 * R];
  for (int j = 0; j < R; ++j) {
    x[j] = reinterpret_cast<const float*>(activations + j * activation_stride);
    acc[2 * j] = acc[2 * j + 1] = _mm256_setzero_ps();
  }
  const uint8_t* w = group;
  if constexpr (kType == TensorType::BF16) {
    // Lane r holds row r's pair: element k in the low 16 bits, k + 1 in the high ones.
    const __m256i high_half = _mm256_set1_epi32(static_cast<int32_t>(0xFFFF0000u));
    for (int64_t k = 0; k < cols; k += 2, w += 2 * kStep) {
      const __m256i p0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w));
      const __m256i p1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + kStep));
      const __m256 even0 = _mm256_castsi256_ps(_mm256_slli_epi32(p0, 16));
      const __m256 even1 = _mm256_castsi256_ps(_mm256_slli_epi32(p1, 16));
      for (int j = 0; j < R; ++j) {
        const __m256 xk = _mm256_broadcast_ss(x[j] + k);
        acc[2 * j] = _mm256_fmadd_ps(even0, xk, acc[2 * j]);
        acc[2 * j + 1] = _mm256_fmadd_ps(even1, xk, acc[2 * j + 1]);
      }
      const __m256 odd0 = _mm256_castsi256_ps(_mm256_and_si256(p0, high_half));
      const __m256 odd1 = _mm256_castsi256_ps(_mm256_and_si256(p1, high_half));
      for (int j = 0; j < R; ++j) {
        const __m256 xk = _mm256_broadcast_ss(x[j] + k + 1);
        acc[2 * j] = _mm256_fmadd_ps(odd0, xk, acc[2 * j]);
        acc[2 * j + 1] = _mm256_fmadd_ps(odd1, xk, acc[2 * j + 1]);
      }
    }
  } else {
    for (int64_t k = 0; k < cols; ++k, w += kStep) {
      const __m256 w0 = load8<kType>(w), w1 = load8<kType>(w + kStep / 2);
      for (int j = 0; j < R; ++j) {
        const __m256 xk = _mm256_broadcast_ss(x[j] + k);
        acc[2 * j] = _mm256_fmadd_ps(w0, xk, acc[2 * j]);
        acc[2 * j + 1] = _mm256_fmadd_ps(w1, xk, acc[2 * j + 1]);
      }
    }
  }
  store_rows<R>(acc, out, out_stride, live_rows);
}

// Six activation rows at a time: 12 accumulators, two weight vectors and a broadcast fill the 16 registers.
template <TensorType kType>
void float_group(const uint8_t* group, int64_t cols, const uint8_t* activations, size_t activation_stride,
                 int64_t n, float* out, int64_t out_stride, int live_rows) {
  constexpr int kBatch = 6;
  int64_t i = 0;
  for (; i + kBatch <= n; i += kBatch)
    float_rows<kType, kBatch>(group, cols, activations + i * activation_stride, activation_stride,
                              out + i * out_stride, out_stride, live_rows);
  const uint8_t* x = activations + i * activation_stride;
  float* o = out + i * out_stride;
  switch (n - i) {
    case 1:
      return float_rows<kType, 1>(group, cols, x, activation_stride, o, out_stride, live_rows);
    case 2:
      return float_rows<kType, 2>(group, cols, x, activation_stride, o, out_stride, live_rows);
    case 3:
      return float_rows<kType, 3>(group, cols, x, activation_stride, o, out_stride, live_rows);
    case 4:
      return float_rows<kType, 4>(group, cols, x, activation_stride, o, out_stride, live_rows);
    case 5:
      return float_rows<kType, 5>(group, cols, x, activation_stride, o, out_stride, live_rows);
    default:
      return;
  }
}

}  // namespace

void interleaved_float_group_avx2(TensorType type, const uint8_t* group, int64_t cols,
                                  const uint8_t* activations, size_t activation_stride, int64_t n, float* out,
                                  int64_t out_stride, int rows_in_group) {
  const int live_rows = std::min(rows_in_group, kGroupRows);
  switch (type) {
    case TensorType::F32:
      return float_group<TensorType::F32>(group, cols, activations, activation_stride, n, out, out_stride,
                                          live_rows);
    case TensorType::F16:
      return float_group<TensorType::F16>(group, cols, activations, activation_stride, n, out, out_stride,
                                          live_rows);
    case TensorType::BF16:
      return float_group<TensorType::BF16>(group, cols, activations, activation_stride, n, out, out_stride,
                                           live_rows);
    default:
      return;
  }
}

}  // namespace llamascope::simd
