// AVX-512 matmul over F32 / F16 / BF16 weights interleaved 16 rows at a time (interleaved.h): one 512-bit
// vector holds element k of a group's 16 rows. The same fused multiply-add chain per output as the AVX2
// kernel (interleaved_float_avx2.cpp), so both give the same bits. A call may cover two consecutive groups
// (rows_in_group up to 32): each broadcast activation element then feeds two multiply-adds, which keeps the
// loads below the multiply-adds, and twelve activation rows per pass fill 24 of the 32 registers.
#include <immintrin.h>

#include <algorithm>

#include "kernels/simd/interleaved.h"
#include "kernels/simd/interleaved_avx512_groups.h"
#include "kernels/simd/row_passes.h"

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

// out[j][16 g + r] for R activation rows and G groups: one chain per output, in k order, whatever R and G.
template <TensorType kType, int G, int R>
void float_rows(const Groups& groups, int64_t cols, const uint8_t* activations, size_t activation_stride,
                float* out, int64_t out_stride) {
  constexpr size_t kStep = kGroupRows * kElementBytes<kType>;
  const float* x[R];
  __m512 acc[G][R];
  for (int j = 0; j < R; ++j) {
    x[j] = reinterpret_cast<const float*>(activations + j * activation_stride);
    for (int g = 0; g < G; ++g) acc[g][j] = _mm512_setzero_ps();
  }
  const uint8_t* w = groups.first;
  if constexpr (kType == TensorType::BF16) {
    // Lane r holds row r's pair: element k in the low 16 bits, k + 1 in the high ones.
    const __m512i high_half = _mm512_set1_epi32(static_cast<int32_t>(0xFFFF0000u));
    for (int64_t k = 0; k < cols; k += 2, w += 2 * kStep) {
      for (int g = 0; g < G; ++g) prefetch_ahead(w + g * groups.bytes, 2 * kStep);
      __m512i pair[G];
      for (int g = 0; g < G; ++g) pair[g] = _mm512_loadu_si512(w + g * groups.bytes);
      for (int g = 0; g < G; ++g) {
        const __m512 even = _mm512_castsi512_ps(_mm512_slli_epi32(pair[g], 16));
        for (int j = 0; j < R; ++j) acc[g][j] = _mm512_fmadd_ps(even, _mm512_set1_ps(x[j][k]), acc[g][j]);
      }
      for (int g = 0; g < G; ++g) {
        const __m512 odd = _mm512_castsi512_ps(_mm512_and_si512(pair[g], high_half));
        for (int j = 0; j < R; ++j) acc[g][j] = _mm512_fmadd_ps(odd, _mm512_set1_ps(x[j][k + 1]), acc[g][j]);
      }
    }
  } else {
    for (int64_t k = 0; k < cols; ++k, w += kStep) {
      if (k * kStep % 64 == 0)  // once per cache line of the stream

        for (int g = 0; g < G; ++g) prefetch_ahead(w + g * groups.bytes, 64);
      __m512 wk[G];
      for (int g = 0; g < G; ++g) wk[g] = load16<kType>(w + g * groups.bytes);
      for (int j = 0; j < R; ++j) {
        const __m512 xk = _mm512_set1_ps(x[j][k]);
        for (int g = 0; g < G; ++g) acc[g][j] = _mm512_fmadd_ps(wk[g], xk, acc[g][j]);
      }
    }
  }
  for (int j = 0; j < R; ++j)
    for (int g = 0; g < G; ++g)
      _mm512_mask_storeu_ps(out + j * out_stride + g * kGroupRows, groups.keep[g], acc[g][j]);
}

template <TensorType kType, int G>
void float_groups(const Groups& groups, int64_t cols, const uint8_t* activations, size_t activation_stride,
                  int64_t n, float* out, int64_t out_stride) {
  for_each_row_pass<G == 2 ? 12 : 8>(n, [&]<int R>(int64_t i) {
    float_rows<kType, G, R>(groups, cols, activations + i * activation_stride, activation_stride,
                            out + i * out_stride, out_stride);
  });
}

template <TensorType kType>
void float_call(const Groups& groups, bool two, int64_t cols, const uint8_t* activations,
                size_t activation_stride, int64_t n, float* out, int64_t out_stride) {
  if (two) return float_groups<kType, 2>(groups, cols, activations, activation_stride, n, out, out_stride);
  float_groups<kType, 1>(groups, cols, activations, activation_stride, n, out, out_stride);
}

}  // namespace

void interleaved_float_group_avx512(TensorType type, const uint8_t* group, int64_t cols,
                                    const uint8_t* activations, size_t activation_stride, int64_t n,
                                    float* out, int64_t out_stride, int rows_in_group) {
  const Groups groups(type, group, cols, rows_in_group);
  visit_float_type(type, [&]<TensorType kType>() {
    float_call<kType>(groups, groups.two, cols, activations, activation_stride, n, out, out_stride);
  });
}

}  // namespace llamascope::simd
