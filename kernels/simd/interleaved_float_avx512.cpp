// AVX-512 matmul over F32 / F16 / BF16 weights interleaved 16 rows at a time (interleaved.h): one 512-bit
// vector holds element k of the group's 16 rows. The same fused multiply-add chain per output as the AVX2
// kernel (interleaved_float_avx2.cpp), so both give the same bits; the 32 registers take eight activation
// rows per pass.
#include <immintrin.h>

#include <algorithm>

#include "kernels/simd/interleaved.h"

namespace llamascope::simd {
namespace {

// Element k of the group's 16 F32 / F16 rows as floats.
template <TensorType kType>
inline __m512 load16(const uint8_t* p) {
  if constexpr (kType == TensorType::F32) {
    return _mm512_loadu_ps(p);
  } else {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
}

template <TensorType kType, int R>
void float_rows(const uint8_t* group, int64_t cols, const uint8_t* activations, size_t activation_stride,
                float* out, int64_t out_stride, __mmask16 keep) {
  constexpr size_t kStep = kGroupRows * kElementBytes<kType>;
  const float* x[R];
  __m512 acc[R];
  for (int j = 0; j < R; ++j) {
    x[j] = reinterpret_cast<const float*>(activations + j * activation_stride);
    acc[j] = _mm512_setzero_ps();
  }
  const uint8_t* w = group;
  if constexpr (kType == TensorType::BF16) {
    // Lane r holds row r's pair: element k in the low 16 bits, k + 1 in the high ones.
    const __m512i high_half = _mm512_set1_epi32(static_cast<int32_t>(0xFFFF0000u));
    for (int64_t k = 0; k < cols; k += 2, w += 2 * kStep) {
      const __m512i pair = _mm512_loadu_si512(w);
      const __m512 even = _mm512_castsi512_ps(_mm512_slli_epi32(pair, 16));
      for (int j = 0; j < R; ++j) acc[j] = _mm512_fmadd_ps(even, _mm512_set1_ps(x[j][k]), acc[j]);
      const __m512 odd = _mm512_castsi512_ps(_mm512_and_si512(pair, high_half));
      for (int j = 0; j < R; ++j) acc[j] = _mm512_fmadd_ps(odd, _mm512_set1_ps(x[j][k + 1]), acc[j]);
    }
  } else {
    for (int64_t k = 0; k < cols; ++k, w += kStep) {
      const __m512 wk = load16<kType>(w);
      for (int j = 0; j < R; ++j) acc[j] = _mm512_fmadd_ps(wk, _mm512_set1_ps(x[j][k]), acc[j]);
    }
  }
  for (int j = 0; j < R; ++j) _mm512_mask_storeu_ps(out + j * out_stride, keep, acc[j]);
}

template <TensorType kType>
void float_group(const uint8_t* group, int64_t cols, const uint8_t* activations, size_t activation_stride,
                 int64_t n, float* out, int64_t out_stride, __mmask16 keep) {
  constexpr int kBatch = 8;
  int64_t i = 0;
  for (; i + kBatch <= n; i += kBatch)
    float_rows<kType, kBatch>(group, cols, activations + i * activation_stride, activation_stride,
                              out + i * out_stride, out_stride, keep);
  const uint8_t* x = activations + i * activation_stride;
  float* o = out + i * out_stride;
  switch (n - i) {
    case 1:
      return float_rows<kType, 1>(group, cols, x, activation_stride, o, out_stride, keep);
    case 2:
      return float_rows<kType, 2>(group, cols, x, activation_stride, o, out_stride, keep);
    case 3:
      return float_rows<kType, 3>(group, cols, x, activation_stride, o, out_stride, keep);
    case 4:
      return float_rows<kType, 4>(group, cols, x, activation_stride, o, out_stride, keep);
    case 5:
      return float_rows<kType, 5>(group, cols, x, activation_stride, o, out_stride, keep);
    case 6:
      return float_rows<kType, 6>(group, cols, x, activation_stride, o, out_stride, keep);
    case 7:
      return float_rows<kType, 7>(group, cols, x, activation_stride, o, out_stride, keep);
    default:
      return;
  }
}

}  // namespace

void interleaved_float_group_avx512(TensorType type, const uint8_t* group, int64_t cols,
                                    const uint8_t* activations, size_t activation_stride, int64_t n,
                                    float* out, int64_t out_stride, int rows_in_group) {
  const __mmask16 keep =
      rows_in_group >= kGroupRows ? __mmask16(0xFFFF) : __mmask16((1u << rows_in_group) - 1);
  switch (type) {
    case TensorType::F32:
      return float_group<TensorType::F32>(group, cols, activations, activation_stride, n, out, out_stride,
                                          keep);
    case TensorType::F16:
      return float_group<TensorType::F16>(group, cols, activations, activation_stride, n, out, out_stride,
                                          keep);
    case TensorType::BF16:
      return float_group<TensorType::BF16>(group, cols, activations, activation_stride, n, out, out_stride,
                                           keep);
    default:
      return;
  }
}

}  // namespace llamascope::simd
