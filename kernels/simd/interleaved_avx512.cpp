// AVX-512 VNNI matmul kernels over the row-interleaved weights of interleaved.h: lane r of every vector is
// weight row r of the group, one VPDPBUSD adds 4 products per lane against 4 activation bytes broadcast to
// all lanes. Each kernel takes R activation rows at a time so that unpacked weight vectors are reused; every
// (row, activation row) pair goes through the same operations in the same order whatever R is.
#include <immintrin.h>

#include <algorithm>

#include "kernels/quant_blocks.h"
#include "kernels/simd/interleaved.h"
#include "kernels/simd/simd_kernels.h"

namespace llamascope::simd {
namespace {

// acc += unsigned bytes u8 x the 4 signed bytes at p broadcast to every lane. Written as inline assembly
// because GCC does not fold the broadcast into VPDPBUSD's embedded {1to16} memory operand on its own, and a
// separate VPBROADCASTD per multiply would nearly double the vector instructions of the inner loops.
inline __m512i dpbusd_broadcast(__m512i acc, __m512i u8, const void* p) {
  asm("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(u8), "m"(*static_cast<const int32_t*>(p)));
  return acc;
}

// The same with signed 16-bit pairs (VPDPWSSD).
inline __m512i dpwssd_broadcast(__m512i acc, __m512i s16, const void* p) {
  asm("vpdpwssd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(s16), "m"(*static_cast<const int32_t*>(p)));
  return acc;
}

inline __m512 load_half16(const uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

inline __m512i load(const uint8_t* p) {
  return _mm512_loadu_si512(p);
}

// The float step of a block for activation row x: acc += d_r d_x sum, and for Q4_1 / Q5_1 (whose codes
// carry no offset) + m_r d_x sum(x), sum(x) = -minus8_sum / 8 exactly.
template <typename Block>
[[gnu::always_inline]] inline __m512 block32_step(__m512 acc, __m512i sum, __m512 wd, __m512 wm,
                                                  const ActBlock32& x) {
  acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(wd, _mm512_set1_ps(x.d)), acc);
  if constexpr (kHasMin<Block>)
    acc = _mm512_fmadd_ps(wm, _mm512_set1_ps(x.d * (-0.125f * x.minus8_sum)), acc);
  return acc;
}

// The rows' m (Q4_1, Q5_1) of the block whose codes start at `codes`.
template <typename Block>
inline __m512 block32_mins(const uint8_t* codes) {
  if constexpr (kHasMin<Block>) {
    return load_half16(reinterpret_cast<const uint16_t*>(codes + kMinOffset<Block>));
  } else {
    return _mm512_setzero_ps();
  }
}

// Q4_0 and Q4_1: lane r = sum over blocks of d_r * d_x * (sum(q * x) - 8 * sum(x)) for Q4_0, of
// d_r * d_x * sum(q * x) + m_r * d_x * sum(x) for Q4_1, q the unsigned nibbles. The high nibbles are used in
// place (v & 0xF0 = 16 q): their dot product is exactly 16 times q's, so one shift of the sum replaces a
// shift of every weight vector, and the two sums are independent dependency chains.
template <typename Block, int R>
void rows_q4(const uint8_t* group, int64_t cols, const uint8_t* const* activations, __m512* acc) {
  const __m512i low = _mm512_set1_epi8(0x0F), high = _mm512_set1_epi8(static_cast<char>(0xF0));
  constexpr size_t kCodeBytes = block32_code_bytes<Block>();
  for_each_block32<kCodeBytes>(
      group, cols / kBlock32, [=](int64_t b, const uint16_t* scales, const uint8_t* qs) {
        __m512i lo[4], hi16[4];
        for (int k = 0; k < 4; ++k) {
          const __m512i v = load(qs + 64 * k);
          lo[k] = _mm512_and_si512(v, low);
          hi16[k] = _mm512_and_si512(v, high);
        }
        const __m512 wd = load_half16(scales), wm = block32_mins<Block>(qs);
        for (int j = 0; j < R; ++j) {
          const ActBlock32& x = reinterpret_cast<const ActBlock32*>(activations[j])[b];
          __m512i sum_lo = kHasMin<Block> ? _mm512_setzero_si512() : _mm512_set1_epi32(x.minus8_sum),
                  sum_hi = _mm512_setzero_si512();
          for (int k = 0; k < 4; ++k) {
            sum_lo = dpbusd_broadcast(sum_lo, lo[k], x.qs + 4 * k);
            sum_hi = dpbusd_broadcast(sum_hi, hi16[k], x.qs + 16 + 4 * k);
          }
          const __m512i sum = _mm512_add_epi32(sum_lo, _mm512_srai_epi32(sum_hi, 4));
          acc[j] = block32_step<Block>(acc[j], sum, wd, wm, x);
        }
      });
}

// Q5_0 and Q5_1: as Q4_0 and Q4_1 with q = nibble + 16 * fifth bit and Q5_0's offset 16. The fifth bits
// come from the row's 32-bit qh word: byte j of it is copied to the row's 4 bytes, tested against one bit
// per byte, and the bytes whose bit is set get 16 added (a byte-masked add).
template <typename Block, int R>
void rows_q5(const uint8_t* group, int64_t cols, const uint8_t* const* activations, __m512* acc) {
  const __m512i low = _mm512_set1_epi8(0x0F), sixteen = _mm512_set1_epi8(16);
  const __m512i dword_first_byte = _mm512_set4_epi32(0x0C0C0C0C, 0x08080808, 0x04040404, 0);
  const __m512i bits[2] = {_mm512_set1_epi32(0x08040201), _mm512_set1_epi32(static_cast<int>(0x80402010))};
  constexpr size_t kCodeBytes = block32_code_bytes<Block>();
  for_each_block32<kCodeBytes>(
      group, cols / kBlock32, [=](int64_t b, const uint16_t* scales, const uint8_t* qs) {
        const __m512i qh = load(qs + kQhOffset<Block>);
        __m512i qh_byte[4];  // byte j of each row's qh in all 4 of the row's bytes: elements 8j..8j+7
        for (int j = 0; j < 4; ++j)
          qh_byte[j] = _mm512_shuffle_epi8(qh, _mm512_add_epi8(dword_first_byte, _mm512_set1_epi8(char(j))));
        __m512i lo[4], hi[4];  // elements 4k..4k+3 and 16+4k..16+4k+3 of each row
        for (int k = 0; k < 4; ++k) {
          const __m512i v = load(qs + 64 * k);
          lo[k] = _mm512_and_si512(v, low);
          hi[k] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low);
          lo[k] =
              _mm512_mask_add_epi8(lo[k], _mm512_test_epi8_mask(qh_byte[k / 2], bits[k % 2]), lo[k], sixteen);
          hi[k] = _mm512_mask_add_epi8(hi[k], _mm512_test_epi8_mask(qh_byte[2 + k / 2], bits[k % 2]), hi[k],
                                       sixteen);
        }
        const __m512 wd = load_half16(scales), wm = block32_mins<Block>(qs);
        for (int j = 0; j < R; ++j) {
          const ActBlock32& x = reinterpret_cast<const ActBlock32*>(activations[j])[b];
          __m512i sum_lo = kHasMin<Block> ? _mm512_setzero_si512() : _mm512_set1_epi32(2 * x.minus8_sum),
                  sum_hi = _mm512_setzero_si512();
          for (int k = 0; k < 4; ++k) {
            sum_lo = dpbusd_broadcast(sum_lo, lo[k], x.qs + 4 * k);
            sum_hi = dpbusd_broadcast(sum_hi, hi[k], x.qs + 16 + 4 * k);
          }
          acc[j] = block32_step<Block>(acc[j], _mm512_add_epi32(sum_lo, sum_hi), wd, wm, x);
        }
      });
}

// Q8_0 stored as q + 128: lane r = sum over blocks of d_r * d_x * (sum((q + 128) * x) - 128 * sum(x)).
template <int R>
void rows_q8_0(const uint8_t* group, int64_t cols, const uint8_t* const* activations, __m512* acc) {
  for_each_block32<512>(group, cols / kBlock32, [=](int64_t b, const uint16_t* scales, const uint8_t* qs) {
    __m512i w[8];
    for (int k = 0; k < 8; ++k) w[k] = load(qs + 64 * k);
    const __m512 wd = load_half16(scales);
    for (int j = 0; j < R; ++j) {
      const ActBlock32& x = reinterpret_cast<const ActBlock32*>(activations[j])[b];
      __m512i sum = _mm512_slli_epi32(_mm512_set1_epi32(x.minus8_sum), 4);  // -128 * sum(x)
      for (int k = 0; k < 8; ++k) sum = dpbusd_broadcast(sum, w[k], x.qs + 4 * k);
      acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(wd, _mm512_set1_ps(x.d)), acc[j]);
    }
  });
}

// Q4_K and Q5_K: lane r = sum over super-blocks of d_x * (d_r * sum_j scale_rj * sum(q * x over sub-block j)
//                                                         - dmin_r * sum_j min_rj * sum(x over sub-block j)).
// Q5_K's fifth bit of sub-block s is bit s of the code byte's qh byte: tested per byte, added as 16. With
// GFNI (kGfni) one affine byte transform moves bit s to bit 4 and clears the rest, and one ternary-logic
// op merges it with the nibble: two operations per code vector instead of three, on a kernel whose decode is
// bound by its vector operations rather than by memory.
template <typename Block, int R, bool kGfni = false>
void rows_k4(const uint8_t* group, int64_t cols, const uint8_t* const* activations, __m512* acc) {
  constexpr bool kFive = kHasQh<Block>;
  constexpr size_t kGroupBytes = kFive ? kQ5KGroupBytes : kQ4KGroupBytes;
  const int64_t nsb = cols / kBlockK;
  const __m512i low = _mm512_set1_epi8(0x0F), sixteen = _mm512_set1_epi8(16);
  for (int64_t b = 0; b < nsb; ++b) {
    const uint8_t* sb = group + b * kGroupBytes;
    prefetch_ahead(sb, kGroupBytes);
    const uint8_t* base = sb + kQ4KCodes;
    const uint8_t* scales = sb + kQ4KScales;
    const uint8_t* mins = sb + kQ4KMins;
    const uint16_t* d = reinterpret_cast<const uint16_t*>(sb + kQ4KD);
    __m512i qsum[R];
    for (int j = 0; j < R; ++j) qsum[j] = _mm512_setzero_si512();
    // Each code and qh vector is loaded once per super-block and kept in a register: with one 64-byte load
    // per cycle, loading them again for every sub-block had decode waiting on the load ports.
    __m512i high_bits[8];
    if constexpr (kFive)
      for (int k = 0; k < 8; ++k) high_bits[k] = load(sb + kQ5KHighBits + k * 64);
    for (int c = 0; c < 4; ++c) {  // 64 elements: sub-block 2c in the low nibbles, 2c + 1 in the high
      __m512i codes[8];
      for (int k = 0; k < 8; ++k) codes[k] = load(base + (8 * c + k) * 64);
      for (int half = 0; half < 2; ++half) {
        const int sub = 2 * c + half;
        __m512i q[8];
        for (int k = 0; k < 8; ++k) {
          const __m512i nibbles = half ? _mm512_srli_epi16(codes[k], 4) : codes[k];  // in bits 0-3
          if constexpr (kFive && kGfni) {
            // Output bit 4 of each byte is input bit `sub` (matrix byte 7 - 4 selects it); then a & c | b.
            const __m512i select = _mm512_set1_epi64(int64_t(1) << (sub + 24));
            const __m512i fifth = _mm512_gf2p8affine_epi64_epi8(high_bits[k], select, 0);
            q[k] = _mm512_ternarylogic_epi32(nibbles, fifth, low, 0xEC);
          } else {
            q[k] = _mm512_and_si512(nibbles, low);
            if constexpr (kFive) {
              const __mmask64 fifth =
                  _mm512_test_epi8_mask(high_bits[k], _mm512_set1_epi8(static_cast<char>(1 << sub)));
              q[k] = _mm512_mask_add_epi8(q[k], fifth, q[k], sixteen);
            }
          }
        }
        const __m512i scale = _mm512_cvtepu8_epi32(
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(scales + sub * kGroupRows)));
        for (int j = 0; j < R; ++j) {
          const int8_t* y = reinterpret_cast<const BlockQ8_K*>(activations[j])[b].qs + 32 * sub;
          __m512i dot = _mm512_setzero_si512();
          for (int k = 0; k < 8; ++k) dot = dpbusd_broadcast(dot, q[k], y + 4 * k);
          qsum[j] = _mm512_add_epi32(qsum[j], _mm512_mullo_epi32(dot, scale));
        }
      }
    }
    // (min, min) as an int16 pair against (bsum_2j, bsum_2j+1): VPDPWSSD adds min * (sum of the 32 x).
    __m512i min_pairs[8];
    for (int s = 0; s < 8; ++s) {
      const __m512i m =
          _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(mins + s * kGroupRows)));
      min_pairs[s] = _mm512_or_si512(m, _mm512_slli_epi32(m, 16));
    }
    const __m512 wd = load_half16(d), wdmin = load_half16(reinterpret_cast<const uint16_t*>(sb + kQ4KDmin));
    for (int j = 0; j < R; ++j) {
      const BlockQ8_K& x = reinterpret_cast<const BlockQ8_K*>(activations[j])[b];
      __m512i msum = _mm512_setzero_si512();
      for (int s = 0; s < 8; ++s) msum = dpwssd_broadcast(msum, min_pairs[s], x.bsums + 2 * s);
      const __m512 xd = _mm512_set1_ps(x.d);
      acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(qsum[j]), _mm512_mul_ps(wd, xd), acc[j]);
      acc[j] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(msum), _mm512_mul_ps(wdmin, xd), acc[j]);
    }
  }
}

template <int R, bool kGfni>
void rows(TensorType type, const uint8_t* group, int64_t cols, const uint8_t* const* activations,
          __m512* acc) {
  for (int j = 0; j < R; ++j) acc[j] = _mm512_setzero_ps();
  switch (type) {
    case TensorType::Q4_0:
      return rows_q4<BlockQ4_0, R>(group, cols, activations, acc);
    case TensorType::Q4_1:
      return rows_q4<BlockQ4_1, R>(group, cols, activations, acc);
    case TensorType::Q8_0:
      return rows_q8_0<R>(group, cols, activations, acc);
    case TensorType::Q5_0:
      return rows_q5<BlockQ5_0, R>(group, cols, activations, acc);
    case TensorType::Q5_1:
      return rows_q5<BlockQ5_1, R>(group, cols, activations, acc);
    case TensorType::Q4_K:
      return rows_k4<BlockQ4_K, R>(group, cols, activations, acc);
    case TensorType::Q5_K:
      return rows_k4<BlockQ5_K, R, kGfni>(group, cols, activations, acc);
    default:
      return;
  }
}

template <bool kGfni>
void matmul_group(TensorType type, const uint8_t* group, int64_t cols, const uint8_t* activations,
                  size_t activation_stride, int64_t n, float* out, int64_t out_stride, int rows_in_group) {
  const __mmask16 keep =
      rows_in_group >= kGroupRows ? __mmask16(0xFFFF) : __mmask16((1u << rows_in_group) - 1);
  constexpr int kBatch = 4;
  int64_t i = 0;
  for (; i + kBatch <= n; i += kBatch) {
    const uint8_t* x[kBatch];
    for (int j = 0; j < kBatch; ++j) x[j] = activations + (i + j) * activation_stride;
    __m512 acc[kBatch];
    rows<kBatch, kGfni>(type, group, cols, x, acc);
    for (int j = 0; j < kBatch; ++j) _mm512_mask_storeu_ps(out + (i + j) * out_stride, keep, acc[j]);
  }
  for (; i < n; ++i) {
    const uint8_t* x = activations + i * activation_stride;
    __m512 acc;
    rows<1, kGfni>(type, group, cols, &x, &acc);
    _mm512_mask_storeu_ps(out + i * out_stride, keep, acc);
  }
}

}  // namespace

void interleaved_matmul_group_avx512(TensorType type, const uint8_t* group, int64_t cols,
                                     const uint8_t* activations, size_t activation_stride, int64_t n,
                                     float* out, int64_t out_stride, int rows_in_group) {
  matmul_group<false>(type, group, cols, activations, activation_stride, n, out, out_stride, rows_in_group);
}

void interleaved_matmul_group_avx512_gfni(TensorType type, const uint8_t* group, int64_t cols,
                                          const uint8_t* activations, size_t activation_stride, int64_t n,
                                          float* out, int64_t out_stride, int rows_in_group) {
  matmul_group<true>(type, group, cols, activations, activation_stride, n, out, out_stride, rows_in_group);
}

}  // namespace llamascope::simd
