// AVX2 matmul kernels over the row-interleaved Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K and Q5_K weights of
// interleaved.h, for CPUs without AVX-512 VNNI. The layout is the AVX-512 one: each 64-byte code vector holds
// 4 bytes of each of 16 rows, so its two 256-bit halves are rows 0-7 and rows 8-15, lane r of a half being
// row r. Without VPDPBUSD, VPMADDUBSW multiplies the unsigned nibbles by 4 activation bytes broadcast to
// every lane and adds pairs to 16 bits; the 8 products of a block (low and high nibbles of 4 vectors) are
// summed in 16 bits, exact because each is at most 2 x 15 x 127 and 8 x 3810 < 32768, and VPMADDWD against
// ones widens the pairs to one 32-bit sum per row. As in the AVX-512 kernels, every (row, activation row)
// pair goes through the same operations in the same order whatever the batch.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/quant_blocks.h"
#include "kernels/simd/interleaved.h"
#include "kernels/simd/interleaved_avx2_store.h"
#include "kernels/simd/simd_kernels.h"

namespace llamascope::simd {
namespace {

inline __m256i broadcast_dword(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof v);
  return _mm256_set1_epi32(v);
}

// The float step of a block for activation row x and half h of the rows: acc += d_r d_x sum, and for Q4_1 /
// Q5_1 (whose codes carry no offset) + m_r d_x sum(x), sum(x) = -minus8_sum / 8 exactly.
template <typename Block>
[[gnu::always_inline]] inline __m256 block32_step(__m256 acc, __m256i sum, __m256 wd, __m256 wm,
                                                  const ActBlock32& x) {
  acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_mul_ps(wd, _mm256_set1_ps(x.d)), acc);
  if constexpr (kHasMin<Block>)
    acc = _mm256_fmadd_ps(wm, _mm256_set1_ps(x.d * (-0.125f * x.minus8_sum)), acc);
  return acc;
}

// Eight fp16 values of a group's per-row field as floats: the scales d, or m (Q4_1, Q5_1; zeros otherwise).
inline __m256 load_half8(const void* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(static_cast<const __m128i*>(p)));
}
template <typename Block>
inline __m256 block32_mins(const uint8_t* codes, int h) {
  if constexpr (kHasMin<Block>) {
    return load_half8(codes + kMinOffset<Block> + 16 * h);
  } else {
    return _mm256_setzero_ps();
  }
}

// Q4_0 and Q4_1: lane r of half h = sum over blocks of d_r * d_x * (sum(q * x) - 8 * sum(x)) for row 8 h + r
// (Q4_1: d_r * d_x * sum(q * x) + m_r * d_x * sum(x)). acc[2 j + h]: activation row j, rows 8 h .. 8 h + 7.
template <typename Block, int R>
void rows_q4(const uint8_t* group, int64_t cols, const uint8_t* const* activations, __m256* acc) {
  const __m256i low = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
  constexpr size_t kCodeBytes = block32_code_bytes<Block>();
  for_each_block32<kCodeBytes>(
      group, cols / kBlock32, [=](int64_t b, const uint16_t* scales, const uint8_t* qs) {
        for (int h = 0; h < 2; ++h) {
          __m256i lo[4], hi[4];
          for (int k = 0; k < 4; ++k) {
            const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 64 * k + 32 * h));
            lo[k] = _mm256_and_si256(v, low);
            hi[k] = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
          }
          const __m256 wd = load_half8(scales + 8 * h), wm = block32_mins<Block>(qs, h);
          for (int j = 0; j < R; ++j) {
            const ActBlock32& x = reinterpret_cast<const ActBlock32*>(activations[j])[b];
            __m256i pairs = _mm256_maddubs_epi16(lo[0], broadcast_dword(x.qs));
            pairs = _mm256_add_epi16(pairs, _mm256_maddubs_epi16(hi[0], broadcast_dword(x.qs + 16)));
            for (int k = 1; k < 4; ++k) {
              pairs = _mm256_add_epi16(pairs, _mm256_maddubs_epi16(lo[k], broadcast_dword(x.qs + 4 * k)));
              pairs =
                  _mm256_add_epi16(pairs, _mm256_maddubs_epi16(hi[k], broadcast_dword(x.qs + 16 + 4 * k)));
            }
            __m256i sum = _mm256_madd_epi16(pairs, ones);
            if constexpr (!kHasMin<Block>) sum = _mm256_add_epi32(sum, _mm256_set1_epi32(x.minus8_sum));
            acc[2 * j + h] = block32_step<Block>(acc[2 * j + h], sum, wd, wm, x);
          }
        }
      });
}

// Q5_0 and Q5_1: as Q4_0 and Q4_1 with the fifth bits from each row's 32-bit qh word (byte j of it copied to
// the row's 4 bytes, one bit per byte tested, 16 added where set), so codes run 0-31. A pair of products is
// then at most 2 x 31 x 127 = 7874, so the 4 low-nibble and the 4 high-nibble products are summed in 16 bits
// apart (4 x 7874 < 32768) and widened separately.
template <typename Block, int R>
void rows_q5(const uint8_t* group, int64_t cols, const uint8_t* const* activations, __m256* acc) {
  const __m256i low = _mm256_set1_epi8(0x0F), sixteen = _mm256_set1_epi8(16), ones = _mm256_set1_epi16(1);
  const __m256i dword_first_byte = _mm256_setr_epi8(0, 0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8, 12, 12, 12, 12, 0, 0,
                                                    0, 0, 4, 4, 4, 4, 8, 8, 8, 8, 12, 12, 12, 12);
  const __m256i bits[2] = {_mm256_set1_epi32(0x08040201), _mm256_set1_epi32(static_cast<int>(0x80402010))};
  // 16 where bit (8 j + 4 (k % 2) + byte) of the row's qh is set: the fifth bit of the code in that byte.
  auto fifth_bits = [&](__m256i qh, int j, int k) {
    const __m256i byte_j =
        _mm256_shuffle_epi8(qh, _mm256_add_epi8(dword_first_byte, _mm256_set1_epi8(char(j))));
    const __m256i bit = _mm256_and_si256(byte_j, bits[k % 2]);
    return _mm256_and_si256(_mm256_cmpeq_epi8(bit, bits[k % 2]), sixteen);
  };
  constexpr size_t kCodeBytes = block32_code_bytes<Block>();
  for_each_block32<kCodeBytes>(
      group, cols / kBlock32, [=](int64_t b, const uint16_t* scales, const uint8_t* qs) {
        for (int h = 0; h < 2; ++h) {
          const __m256i qh =
              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + kQhOffset<Block> + 32 * h));
          __m256i lo[4], hi[4];
          for (int k = 0; k < 4; ++k) {
            const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 64 * k + 32 * h));
            lo[k] = _mm256_or_si256(_mm256_and_si256(v, low), fifth_bits(qh, k / 2, k));
            hi[k] =
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), low), fifth_bits(qh, 2 + k / 2, k));
          }
          const __m256 wd = load_half8(scales + 8 * h), wm = block32_mins<Block>(qs, h);
          for (int j = 0; j < R; ++j) {
            const ActBlock32& x = reinterpret_cast<const ActBlock32*>(activations[j])[b];
            __m256i pairs_lo = _mm256_maddubs_epi16(lo[0], broadcast_dword(x.qs));
            __m256i pairs_hi = _mm256_maddubs_epi16(hi[0], broadcast_dword(x.qs + 16));
            for (int k = 1; k < 4; ++k) {
              pairs_lo =
                  _mm256_add_epi16(pairs_lo, _mm256_maddubs_epi16(lo[k], broadcast_dword(x.qs + 4 * k)));
              pairs_hi =
                  _mm256_add_epi16(pairs_hi, _mm256_maddubs_epi16(hi[k], broadcast_dword(x.qs + 16 + 4 * k)));
            }
            __m256i sum =
                _mm256_add_epi32(_mm256_madd_epi16(pairs_lo, ones), _mm256_madd_epi16(pairs_hi, ones));
            if constexpr (!kHasMin<Block>) sum = _mm256_add_epi32(sum, _mm256_set1_epi32(2 * x.minus8_sum));
            acc[2 * j + h] = block32_step<Block>(acc[2 * j + h], sum, wd, wm, x);
          }
        }
      });
}

// Q8_0, stored as q + 128 (the AVX-512 layout): XOR 0x80 gives back the signed codes. VPMADDUBSW takes |q|
// and x with q's sign, so a pair sum is at most 2 x 128 x 127 and fits 16 bits; VPMADDWD widens each dword's
// products to a 32-bit sum per row. The integer sum is sum(q * x) exactly, as on AVX-512, and the float steps
// are the same, so both ISAs give the same bits.
template <int R>
void rows_q8_0(const uint8_t* group, int64_t cols, const uint8_t* const* activations, __m256* acc) {
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80)), ones = _mm256_set1_epi16(1);
  for_each_block32<512>(group, cols / kBlock32, [=](int64_t b, const uint16_t* scales, const uint8_t* qs) {
    for (int h = 0; h < 2; ++h) {
      // k outer, rows inner: one weight vector and R sums live at a time (with all 16 weight vectors
      // unpacked first, GCC kept most of them on the stack, and one-thread decode ran at 10 tokens/s, not
      // 27).
      __m256i sum[R];
      for (int j = 0; j < R; ++j) sum[j] = _mm256_setzero_si256();
      for (int k = 0; k < 8; ++k) {
        const __m256i w = _mm256_xor_si256(
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 64 * k + 32 * h)), flip);
        const __m256i magnitude = _mm256_sign_epi8(w, w);
        for (int j = 0; j < R; ++j) {
          const ActBlock32& x = reinterpret_cast<const ActBlock32*>(activations[j])[b];
          const __m256i signed_x = _mm256_sign_epi8(broadcast_dword(x.qs + 4 * k), w);
          sum[j] =
              _mm256_add_epi32(sum[j], _mm256_madd_epi16(_mm256_maddubs_epi16(magnitude, signed_x), ones));
        }
      }
      const __m256 wd = load_half8(scales + 8 * h);
      for (int j = 0; j < R; ++j) {
        const float xd = reinterpret_cast<const ActBlock32*>(activations[j])[b].d;
        acc[2 * j + h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum[j]), _mm256_mul_ps(wd, _mm256_set1_ps(xd)),
                                         acc[2 * j + h]);
      }
    }
  });
}

// Q4_K: lane r of half h = sum over super-blocks of d_x * (d_r * sum_j scale_rj * sum(q * x over sub-block
// j) - dmin_r * sum_j min_rj * sum(x over sub-block j)). VPMADDWD against (scale, scale) 16-bit pairs both
// widens a sub-block's 16-bit sums and applies its scale; (min, min) pairs against the activation's
// (bsum_2j, bsum_2j+1) give min * (sum of the 32 x). Q5_K (as Q4_K, plus 16 where bit s of the code byte's
// qh byte is set, for sub-block s) has codes up to 31, so its eight products are summed in 16 bits as two
// sums of four (4 x 2 x 31 x 127 < 32768), each widened with the scale.
template <typename Block, int R>
void rows_k4(const uint8_t* group, int64_t cols, const uint8_t* const* activations, __m256* acc) {
  constexpr bool kFive = kHasQh<Block>;
  constexpr size_t kGroupBytes = kFive ? kQ5KGroupBytes : kQ4KGroupBytes;
  const int64_t nsb = cols / kBlockK;
  const __m256i low = _mm256_set1_epi8(0x0F), sixteen = _mm256_set1_epi8(16);
  // Row r's byte at p[r] for the 8 rows of half h, as the 16-bit pair (v, v) in 32-bit lane r.
  auto pairs_of = [](const uint8_t* p) {
    const __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
    return _mm256_or_si256(v, _mm256_slli_epi32(v, 16));
  };
  for (int64_t b = 0; b < nsb; ++b) {
    const uint8_t* sb = group + b * kGroupBytes;
    const uint8_t* base = sb + kQ4KCodes;
    prefetch_ahead(sb, kGroupBytes);
    for (int h = 0; h < 2; ++h) {
      __m256i qsum[R], msum[R];
      for (int j = 0; j < R; ++j) qsum[j] = msum[j] = _mm256_setzero_si256();
      for (int c = 0; c < 4; ++c) {  // 64 elements: sub-block 2c in the low nibbles, 2c + 1 in the high
        for (int half = 0; half < 2; ++half) {
          const int sub = 2 * c + half;
          // Bit `sub` of every qh byte moved to the byte's top bit (a 16-bit shift by at most 7 moves no bit
          // across bytes there), where VPBLENDVB reads it to choose between the nibble and the nibble + 16.
          const __m128i to_top_bit = _mm_cvtsi32_si128(7 - sub);
          // Q5_K's 8 qh vectors are the same for every sub-block; GCC hoists their loads out of this loop and
          // then keeps them on the stack, and those stack stores made Q5_K decode 3x slower than Q4_K. An
          // empty asm on the pointer makes each sub-block load them again, from L1.
          const uint8_t* high_bits = sb + kQ5KHighBits + 32 * h;
          if constexpr (kFive) asm("" : "+r"(high_bits));
          __m256i q[8];
          for (int k = 0; k < 8; ++k) {
            const __m256i v =
                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(base + (8 * c + k) * 64 + 32 * h));
            q[k] = _mm256_and_si256(half ? _mm256_srli_epi16(v, 4) : v, low);
            if constexpr (kFive) {
              const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(high_bits + k * 64));
              q[k] =
                  _mm256_blendv_epi8(q[k], _mm256_or_si256(q[k], sixteen), _mm256_sll_epi16(qh, to_top_bit));
            }
          }
          const __m256i scale = pairs_of(sb + kQ4KScales + sub * kGroupRows + 8 * h);
          for (int j = 0; j < R; ++j) {
            const int8_t* y = reinterpret_cast<const BlockQ8_K*>(activations[j])[b].qs + 32 * sub;
            if constexpr (kFive) {
              __m256i first = _mm256_maddubs_epi16(q[0], broadcast_dword(y));
              __m256i second = _mm256_maddubs_epi16(q[4], broadcast_dword(y + 16));
              for (int k = 1; k < 4; ++k) {
                first = _mm256_add_epi16(first, _mm256_maddubs_epi16(q[k], broadcast_dword(y + 4 * k)));
                second =
                    _mm256_add_epi16(second, _mm256_maddubs_epi16(q[4 + k], broadcast_dword(y + 16 + 4 * k)));
              }
              qsum[j] = _mm256_add_epi32(qsum[j], _mm256_add_epi32(_mm256_madd_epi16(first, scale),
                                                                   _mm256_madd_epi16(second, scale)));
            } else {
              __m256i pairs = _mm256_maddubs_epi16(q[0], broadcast_dword(y));
              for (int k = 1; k < 8; ++k)
                pairs = _mm256_add_epi16(pairs, _mm256_maddubs_epi16(q[k], broadcast_dword(y + 4 * k)));
              qsum[j] = _mm256_add_epi32(qsum[j], _mm256_madd_epi16(pairs, scale));
            }
          }
        }
      }
      for (int s = 0; s < 8; ++s) {
        const __m256i min_pairs = pairs_of(sb + kQ4KMins + s * kGroupRows + 8 * h);
        for (int j = 0; j < R; ++j) {
          const BlockQ8_K& x = reinterpret_cast<const BlockQ8_K*>(activations[j])[b];
          int32_t bsum_pair;
          std::memcpy(&bsum_pair, x.bsums + 2 * s, sizeof bsum_pair);
          msum[j] = _mm256_add_epi32(msum[j], _mm256_madd_epi16(min_pairs, _mm256_set1_epi32(bsum_pair)));
        }
      }
      const __m256 wd =
          _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sb + kQ4KD + 2 * 8 * h)));
      const __m256 wdmin =
          _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sb + kQ4KDmin + 2 * 8 * h)));
      for (int j = 0; j < R; ++j) {
        const __m256 xd = _mm256_set1_ps(reinterpret_cast<const BlockQ8_K*>(activations[j])[b].d);
        acc[2 * j + h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(qsum[j]), _mm256_mul_ps(wd, xd), acc[2 * j + h]);
        acc[2 * j + h] =
            _mm256_fnmadd_ps(_mm256_cvtepi32_ps(msum[j]), _mm256_mul_ps(wdmin, xd), acc[2 * j + h]);
      }
    }
  }
}

template <int R>
void rows(TensorType type, const uint8_t* group, int64_t cols, const uint8_t* const* activations,
          __m256* acc) {
  for (int j = 0; j < 2 * R; ++j) acc[j] = _mm256_setzero_ps();
  if (type == TensorType::Q4_0) return rows_q4<BlockQ4_0, R>(group, cols, activations, acc);
  if (type == TensorType::Q4_1) return rows_q4<BlockQ4_1, R>(group, cols, activations, acc);
  if (type == TensorType::Q8_0) return rows_q8_0<R>(group, cols, activations, acc);
  if (type == TensorType::Q5_0) return rows_q5<BlockQ5_0, R>(group, cols, activations, acc);
  if (type == TensorType::Q5_1) return rows_q5<BlockQ5_1, R>(group, cols, activations, acc);
  if (type == TensorType::Q4_K) return rows_k4<BlockQ4_K, R>(group, cols, activations, acc);
  if (type == TensorType::Q5_K) return rows_k4<BlockQ5_K, R>(group, cols, activations, acc);
}

}  // namespace

bool interleaved_avx2_has(TensorType type) {
  return type == TensorType::Q4_0 || type == TensorType::Q4_1 || type == TensorType::Q5_0 ||
         type == TensorType::Q5_1 || type == TensorType::Q8_0 || type == TensorType::Q4_K ||
         type == TensorType::Q5_K;
}

void interleaved_matmul_group_avx2(TensorType type, const uint8_t* group, int64_t cols,
                                   const uint8_t* activations, size_t activation_stride, int64_t n,
                                   float* out, int64_t out_stride, int rows_in_group) {
  if (!interleaved_avx2_has(type)) return;
  const int live_rows = std::min(rows_in_group, kGroupRows);
  constexpr int kBatch = 4;
  int64_t i = 0;
  for (; i + kBatch <= n; i += kBatch) {
    const uint8_t* x[kBatch];
    for (int j = 0; j < kBatch; ++j) x[j] = activations + (i + j) * activation_stride;
    __m256 acc[2 * kBatch];
    rows<kBatch>(type, group, cols, x, acc);
    store_rows<kBatch>(acc, out + i * out_stride, out_stride, live_rows);
  }
  for (; i < n; ++i) {
    const uint8_t* x = activations + i * activation_stride;
    __m256 acc[2];
    rows<1>(type, group, cols, &x, acc);
    store_rows<1>(acc, out + i * out_stride, out_stride, live_rows);
  }
}

}  // namespace llamascope::simd
