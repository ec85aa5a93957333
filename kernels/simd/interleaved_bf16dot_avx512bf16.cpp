// BF16 matmul with AVX512-BF16 over weights interleaved 16 rows at a time in pairs (interleaved.h): the
// activation rows come rounded to BF16 (nearest even, by round_to_bf16_pairs, once per matmul), and
// VDPBF16PS adds a row's two pair products to its lane, two multiply-adds per lane per instruction where
// the FMA kernels take one.
#include <immintrin.h>

#include <algorithm>

#include "kernels/simd/interleaved.h"
#include "kernels/simd/interleaved_avx512_groups.h"
#include "kernels/simd/row_passes.h"

namespace llamascope::simd {

void round_to_bf16_pairs(const float* x, int64_t cols, uint32_t* pairs) {
  int64_t k = 0;
  for (; k + 32 <= cols; k += 32) {
    const __m512bh packed = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + k + 16), _mm512_loadu_ps(x + k));
    _mm512_storeu_si512(pairs + k / 2, (__m512i)packed);
  }
  if (k < cols) {
    const int64_t left = cols - k;  // even, < 32
    const __mmask16 lo = left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1);
    const __mmask16 hi = left > 16 ? __mmask16((1u << (left - 16)) - 1) : __mmask16(0);
    const __m512bh packed =
        _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, x + k + 16), _mm512_maskz_loadu_ps(lo, x + k));
    _mm512_mask_storeu_epi32(pairs + k / 2, __mmask16((1u << (left / 2)) - 1), (__m512i)packed);
  }
}

namespace {

// R activation rows against G consecutive groups (as in interleaved_float_avx512.cpp: two groups let each
// broadcast pair feed two instructions).
template <int G, int R>
void bf16dot_rows(const Groups& groups, int64_t cols, const uint32_t* pairs, int64_t pairs_stride, float* out,
                  int64_t out_stride) {
  __m512 acc[G][R];
  for (int g = 0; g < G; ++g)
    for (int j = 0; j < R; ++j) acc[g][j] = _mm512_setzero_ps();
  const uint8_t* w = groups.first;
  for (int64_t p = 0; p < cols / 2; ++p, w += 64) {
    for (int g = 0; g < G; ++g) prefetch_ahead(w + g * groups.bytes, 64);
    __m512bh wp[G];
    for (int g = 0; g < G; ++g) wp[g] = (__m512bh)_mm512_loadu_si512(w + g * groups.bytes);
    for (int j = 0; j < R; ++j) {
      const __m512bh xp = (__m512bh)_mm512_set1_epi32(static_cast<int32_t>(pairs[j * pairs_stride + p]));
      for (int g = 0; g < G; ++g) acc[g][j] = _mm512_dpbf16_ps(acc[g][j], wp[g], xp);
    }
  }
  for (int j = 0; j < R; ++j)
    for (int g = 0; g < G; ++g)
      _mm512_mask_storeu_ps(out + j * out_stride + g * kGroupRows, groups.keep[g], acc[g][j]);
}

template <int G>
void bf16dot_groups(const Groups& groups, int64_t cols, const uint32_t* pairs, int64_t pairs_stride,
                    int64_t n, float* out, int64_t out_stride) {
  for_each_row_pass<G == 2 ? 12 : 8>(n, [&]<int R>(int64_t i) {
    bf16dot_rows<G, R>(groups, cols, pairs + i * pairs_stride, pairs_stride, out + i * out_stride,
                       out_stride);
  });
}

}  // namespace

void interleaved_bf16dot_group_avx512(TensorType type, const uint8_t* group, int64_t cols,
                                      const uint8_t* activations, size_t activation_stride, int64_t n,
                                      float* out, int64_t out_stride, int rows_in_group) {
  if (type != TensorType::BF16 || cols % 2 != 0) return;
  const Groups groups(type, group, cols, rows_in_group);
  const uint32_t* pairs = reinterpret_cast<const uint32_t*>(activations);
  const int64_t pairs_stride = static_cast<int64_t>(activation_stride / sizeof(uint32_t));
  if (groups.two && n == 1) {  // decode: one stream at a time (Groups::split)
    const auto [first, second] = groups.split(type, cols, rows_in_group);
    bf16dot_groups<1>(first, cols, pairs, pairs_stride, n, out, out_stride);
    return bf16dot_groups<1>(second, cols, pairs, pairs_stride, n, out + kGroupRows, out_stride);
  }
  if (groups.two) return bf16dot_groups<2>(groups, cols, pairs, pairs_stride, n, out, out_stride);
  bf16dot_groups<1>(groups, cols, pairs, pairs_stride, n, out, out_stride);
}

}  // namespace llamascope::simd
