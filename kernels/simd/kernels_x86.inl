// The x86 kernel bodies shared by kernels_avx2.cpp and kernels_avx512.cpp, included inside an anonymous
// namespace of each so that every function has internal linkage and is compiled for that file's ISA only.
// Written with AVX2/FMA/F16C intrinsics; under __AVX512F__ the float dot products use 512-bit vectors.
//
// Quantized matmuls quantize the activation row to int8 (ActBlock32 per 32 for Q8_0/Q4_0, BlockQ8_K per
// 256 for K-quants, scale = max|x| / 127, round to nearest) and take integer dot products with
// maddubs/madd; the integer sums are exact, so the only extra error is the activation rounding
// (normalized MSE about (max|x|/127)^2 / 12 / mean(x^2), ~3e-5 for Gaussian activations).
// Every dot product sums its blocks in one fixed order, independent of the caller's batching. The per-block
// float steps of the kernels instantiated for one and for four activation rows are written as std::fma: left
// to the compiler, a * b - c * d was contracted differently in the two instantiations, and their bits parted.

inline float hsum_ps(__m256 v) {
  __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
  return _mm_cvtss_f32(lo);
}

inline int32_t hsum_epi32(__m256i v) {
  __m128i lo = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  lo = _mm_add_epi32(lo, _mm_shuffle_epi32(lo, _MM_SHUFFLE(1, 0, 3, 2)));
  lo = _mm_add_epi32(lo, _mm_shuffle_epi32(lo, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(lo);
}

inline float hmax_ps(__m256 v) {
  __m128 lo = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  lo = _mm_max_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_max_ss(lo, _mm_movehdup_ps(lo));
  return _mm_cvtss_f32(lo);
}

inline float half_to_float(uint16_t h) {
  return _cvtsh_ss(h);
}

inline float bf16_bits_to_float(uint16_t h) {
  const uint32_t bits = uint32_t(h) << 16;
  float f;
  __builtin_memcpy(&f, &bits, sizeof f);
  return f;
}

// ---- float dot products ----

// Sum over i of a[i] * b_loaded(i), where load8 converts 8 weight elements at an index to floats.
template <typename Load8, typename LoadOne>
inline float dot_generic(const float* x, int64_t n, Load8 load8, LoadOne load_one) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps(), acc2 = _mm256_setzero_ps(),
         acc3 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm256_fmadd_ps(load8(i), _mm256_loadu_ps(x + i), acc0);
    acc1 = _mm256_fmadd_ps(load8(i + 8), _mm256_loadu_ps(x + i + 8), acc1);
    acc2 = _mm256_fmadd_ps(load8(i + 16), _mm256_loadu_ps(x + i + 16), acc2);
    acc3 = _mm256_fmadd_ps(load8(i + 24), _mm256_loadu_ps(x + i + 24), acc3);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(load8(i), _mm256_loadu_ps(x + i), acc0);
  float sum = hsum_ps(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
  for (; i < n; ++i) sum += load_one(i) * x[i];
  return sum;
}

float dot_f32(const float* a, const float* b, int64_t n) {
#ifdef __AVX512F__
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
  }
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, _mm512_add_ps(acc0, acc1));
  float sum = hsum_ps(_mm256_add_ps(_mm256_load_ps(lanes), _mm256_load_ps(lanes + 8)));
  if (i < n)
    sum += dot_generic(
        b + i, n - i, [&](int64_t j) { return _mm256_loadu_ps(a + i + j); },
        [&](int64_t j) { return a[i + j]; });
  return sum;
#else
  return dot_generic(
      b, n, [&](int64_t i) { return _mm256_loadu_ps(a + i); }, [&](int64_t i) { return a[i]; });
#endif
}

float dot_f32_row(const void* w, const void* x, int64_t n) {
  return dot_f32(static_cast<const float*>(w), static_cast<const float*>(x), n);
}

float dot_f16_row(const void* w, const void* x, int64_t n) {
  const uint16_t* h = static_cast<const uint16_t*>(w);
  return dot_generic(
      static_cast<const float*>(x), n,
      [&](int64_t i) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i))); },
      [&](int64_t i) { return half_to_float(h[i]); });
}

float dot_bf16_row(const void* w, const void* x, int64_t n) {
  const uint16_t* h = static_cast<const uint16_t*>(w);
  return dot_generic(
      static_cast<const float*>(x), n,
      [&](int64_t i) {
        const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i)));
        return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
      },
      [&](int64_t i) { return bf16_bits_to_float(h[i]); });
}

// ---- activation quantization ----

inline float abs_max(const float* x, int64_t n) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 m = _mm256_setzero_ps();
  for (int64_t i = 0; i < n; i += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)));
  return hmax_ps(m);
}

// 32 floats * inv_scale, rounded to nearest even, to 32 int8 at out.
inline void round_32_to_int8(const float* x, float inv_scale, int8_t* out) {
  const __m256 s = _mm256_set1_ps(inv_scale);
  const __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x), s));
  const __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8), s));
  const __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16), s));
  const __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 24), s));
  // packs work within 128-bit lanes; the permute restores element order.
  const __m256i packed = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
  const __m256i ordered = _mm256_permutevar8x32_epi32(packed, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), ordered);
}

void quantize_q8_32(const float* x, ActBlock32* out, int64_t n) {
  for (int64_t b = 0; b < n / kBlock32; ++b, x += kBlock32) {
    const float amax = abs_max(x, kBlock32);
    out[b].d = amax / 127.0f;
    round_32_to_int8(x, amax > 0 ? 127.0f / amax : 0.0f, out[b].qs);
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(out[b].qs));
    // Sum of 32 int8: madd against ones pairs them to int16, then to int32.
    out[b].minus8_sum = -8 * hsum_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q),
                                                          _mm256_set1_epi16(1)));
  }
}

void quantize_q8_k(const float* x, BlockQ8_K* out, int64_t n) {
  for (int64_t b = 0; b < n / kBlockK; ++b, x += kBlockK) {
    const float amax = abs_max(x, kBlockK);
    out[b].d = amax / 127.0f;
    const float inv = amax > 0 ? 127.0f / amax : 0.0f;
    for (int j = 0; j < kBlockK; j += 32) round_32_to_int8(x + j, inv, out[b].qs + j);
    for (int s = 0; s < kBlockK / 16; ++s) {
      int sum = 0;
      for (int j = 0; j < 16; ++j) sum += out[b].qs[16 * s + j];
      out[b].bsums[s] = static_cast<int16_t>(sum);
    }
  }
}

// ---- integer dot products ----

// The legacy 32-element block types. Q4_0, Q5_0 (less 8 or 16) and Q8_0 codes are signed around zero; Q4_1
// and Q5_1 codes are unsigned, with a per-block offset + m that multiplies the sum of x.
enum class Block32 { q4_0, q8_0, q4_1, q5_0, q5_1 };

template <Block32 kType>
constexpr bool kSignedCodes = kType == Block32::q4_0 || kType == Block32::q8_0 || kType == Block32::q5_0;

template <Block32 kType>
struct Block32Of;
template <>
struct Block32Of<Block32::q4_0> {
  using type = BlockQ4_0;
};
template <>
struct Block32Of<Block32::q8_0> {
  using type = BlockQ8_0;
};
template <>
struct Block32Of<Block32::q4_1> {
  using type = BlockQ4_1;
};
template <>
struct Block32Of<Block32::q5_0> {
  using type = BlockQ5_0;
};
template <>
struct Block32Of<Block32::q5_1> {
  using type = BlockQ5_1;
};

// The 32 4-bit codes of a block: element j in the low nibble of qs[j], j + 16 in the high one.
inline __m256i unpack_nibbles_32(const uint8_t* qs) {
  const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i low_mask = _mm_set1_epi8(0x0F);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(packed, 4), low_mask),
                          _mm_and_si128(packed, low_mask));
}

// Byte j = 16 where bit j of the block's 32-bit qh is set (the fifth bit of Q5_0 / Q5_1 codes), else 0.
inline __m256i q5_high_bits(const uint8_t* qh) {
  int32_t bits;
  __builtin_memcpy(&bits, qh, sizeof bits);
  // Byte j takes byte j / 8 of qh (the shuffle works per 128-bit lane; each lane holds all four bytes).
  const __m256i spread =
      _mm256_shuffle_epi8(_mm256_set1_epi32(bits),
                          _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303));
  const __m256i bit_of_byte = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201));
  return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit_of_byte), bit_of_byte),
                          _mm256_set1_epi8(0x10));
}

// Block b's 32 codes as bytes in element order: signed (q - 8, q) for Q4_0 / Q8_0, unsigned otherwise.
template <Block32 kType>
inline __m256i load_weight_block(const uint8_t* row, int64_t b) {
  const auto& block = reinterpret_cast<const typename Block32Of<kType>::type*>(row)[b];
  if constexpr (kType == Block32::q8_0) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block.qs));
  } else if constexpr (kType == Block32::q4_0) {
    return _mm256_sub_epi8(unpack_nibbles_32(block.qs), _mm256_set1_epi8(8));
  } else if constexpr (kType == Block32::q4_1) {
    return unpack_nibbles_32(block.qs);
  } else if constexpr (kType == Block32::q5_0) {
    return _mm256_sub_epi8(_mm256_or_si256(unpack_nibbles_32(block.qs), q5_high_bits(block.qh)),
                           _mm256_set1_epi8(16));
  } else {
    return _mm256_or_si256(unpack_nibbles_32(block.qs), q5_high_bits(block.qh));
  }
}

template <Block32 kType>
inline float weight_block_scale(const uint8_t* row, int64_t b) {
  return half_to_float(reinterpret_cast<const typename Block32Of<kType>::type*>(row)[b].d);
}

// For unsigned codes: what multiplies an activation block's d * minus8_sum (= -8 d sum(x)) in the dot,
// that is -m / 8 (exact: a power of two).
template <Block32 kType>
inline float weight_block_offset_factor(const uint8_t* row, int64_t b) {
  return -0.125f * half_to_float(reinterpret_cast<const typename Block32Of<kType>::type*>(row)[b].m);
}

// Sums of four adjacent u8 x s8 products in each int32 lane: one instruction with AVX512-VNNI, else
// maddubs + madd. The integers are the same either way (the pair sums never reach int16's limit here),
// so the two paths give identical bits.
inline __m256i dot_u8s8_i32(__m256i u, __m256i s) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
#else
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}

// The int32 lane sums of w * x for one block. maddubs takes one unsigned operand: signed codes go in as
// |w| with w's sign moved onto x. |w| <= 128 and |x| <= 127 keep pair sums within int16.
template <Block32 kType>
inline __m256i block_products(__m256i w, __m256i abs_w, __m256i x) {
  if constexpr (kSignedCodes<kType>) {
    return dot_u8s8_i32(abs_w, _mm256_sign_epi8(x, w));
  } else {
    return dot_u8s8_i32(w, x);
  }
}

template <Block32 kType>
inline __m256i abs_codes(__m256i w) {
  if constexpr (kSignedCodes<kType>) {
    return _mm256_sign_epi8(w, w);
  } else {
    return w;
  }
}

// One weight row of a 32-element block type against kRows activation rows: each block is unpacked once and
// used kRows times. Every (weight row, activation row) pair goes through exactly the operations, in the
// order, of kRows = 1 (two accumulators for even and odd blocks, then their sum), so batching never
// changes bits.
template <Block32 kType, int kRows>
inline void dot_32_multi(const void* w, const void* const* x, int64_t n, float* out) {
  const uint8_t* row = static_cast<const uint8_t*>(w);
  const ActBlock32* xb[kRows];
  __m256 acc0[kRows], acc1[kRows];
  float offset0[kRows], offset1[kRows];  // the per-block offsets' share, unsigned codes only
  for (int j = 0; j < kRows; ++j) {
    xb[j] = static_cast<const ActBlock32*>(x[j]);
    acc0[j] = _mm256_setzero_ps();
    acc1[j] = _mm256_setzero_ps();
    offset0[j] = offset1[j] = 0.0f;
  }
  const int64_t nb = n / kBlock32;
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    prefetch_blocks_ahead<typename Block32Of<kType>::type>(row, b, 2);
    const __m256i w0 = load_weight_block<kType>(row, b), w1 = load_weight_block<kType>(row, b + 1);
    const __m256i abs0 = abs_codes<kType>(w0), abs1 = abs_codes<kType>(w1);
    const float d0 = weight_block_scale<kType>(row, b), d1 = weight_block_scale<kType>(row, b + 1);
    float f0 = 0, f1 = 0;
    if constexpr (!kSignedCodes<kType>) {
      f0 = weight_block_offset_factor<kType>(row, b);
      f1 = weight_block_offset_factor<kType>(row, b + 1);
    }
    for (int j = 0; j < kRows; ++j) {
      const __m256i x0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb[j][b].qs));
      const __m256i x1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb[j][b + 1].qs));
      const __m256i p0 = block_products<kType>(w0, abs0, x0);
      const __m256i p1 = block_products<kType>(w1, abs1, x1);
      acc0[j] = _mm256_fmadd_ps(_mm256_set1_ps(d0 * xb[j][b].d), _mm256_cvtepi32_ps(p0), acc0[j]);
      acc1[j] = _mm256_fmadd_ps(_mm256_set1_ps(d1 * xb[j][b + 1].d), _mm256_cvtepi32_ps(p1), acc1[j]);
      if constexpr (!kSignedCodes<kType>) {
        offset0[j] = std::fma(f0, xb[j][b].d * static_cast<float>(xb[j][b].minus8_sum), offset0[j]);
        offset1[j] = std::fma(f1, xb[j][b + 1].d * static_cast<float>(xb[j][b + 1].minus8_sum), offset1[j]);
      }
    }
  }
  if (b < nb) {
    const __m256i w0 = load_weight_block<kType>(row, b);
    const __m256i abs0 = abs_codes<kType>(w0);
    const float d0 = weight_block_scale<kType>(row, b);
    float f0 = 0;
    if constexpr (!kSignedCodes<kType>) f0 = weight_block_offset_factor<kType>(row, b);
    for (int j = 0; j < kRows; ++j) {
      const __m256i x0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb[j][b].qs));
      const __m256i p0 = block_products<kType>(w0, abs0, x0);
      acc0[j] = _mm256_fmadd_ps(_mm256_set1_ps(d0 * xb[j][b].d), _mm256_cvtepi32_ps(p0), acc0[j]);
      if constexpr (!kSignedCodes<kType>)
        offset0[j] = std::fma(f0, xb[j][b].d * static_cast<float>(xb[j][b].minus8_sum), offset0[j]);
    }
  }
  for (int j = 0; j < kRows; ++j) {
    out[j] = hsum_ps(_mm256_add_ps(acc0[j], acc1[j]));
    if constexpr (!kSignedCodes<kType>) out[j] += offset0[j] + offset1[j];
  }
}

// The row and four-row entry points of each 32-element block type (RowDot / RowDot4).
template <Block32 kType>
float dot_32_row(const void* w, const void* x, int64_t n) {
  float out;
  dot_32_multi<kType, 1>(w, &x, n, &out);
  return out;
}
template <Block32 kType>
void dot4_32_row(const void* w, const void* const* x, int64_t n, float* out) {
  dot_32_multi<kType, 4>(w, x, n, out);
}

// The 6-bit scales and mins of the 8 sub-blocks of a Q4_K / Q5_K super-block.
inline void unpack_scales_k4(const uint8_t* packed, uint8_t* scales, uint8_t* mins) {
  for (int j = 0; j < 4; ++j) {
    scales[j] = packed[j] & 63;
    mins[j] = packed[j + 4] & 63;
  }
  for (int j = 4; j < 8; ++j) {
    scales[j] = (packed[j + 4] & 0x0F) | ((packed[j - 4] >> 6) << 4);
    mins[j] = (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4);
  }
}

// Q4_K and Q5_K: x = d * scale_j * q - dmin * min_j, so
// dot = dy * (d * sum_j scale_j * sum(q * y) - dmin * sum_j min_j * sum(y)), with sum(y) from bsums.
// kRows activation rows share each unpacked super-block; per pair the operations are those of kRows = 1.
template <bool kFifthBit, int kRows>
inline void dot_k4_multi(const void* w, const void* const* x, int64_t n, float* out) {
  const int64_t nb = n / kBlockK;
  const __m256i low_mask = _mm256_set1_epi8(0x0F);
  const BlockQ8_K* xb[kRows];
  float sum[kRows];
  for (int j = 0; j < kRows; ++j) xb[j] = static_cast<const BlockQ8_K*>(x[j]), sum[j] = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    prefetch_blocks_ahead<std::conditional_t<kFifthBit, BlockQ5_K, BlockQ4_K>>(w, b);
    uint16_t d_bits, dmin_bits;
    const uint8_t *packed_scales, *qh = nullptr, *qs;
    if constexpr (kFifthBit) {
      const BlockQ5_K* blk = static_cast<const BlockQ5_K*>(w) + b;
      d_bits = blk->d, dmin_bits = blk->dmin, packed_scales = blk->scales, qh = blk->qh, qs = blk->qs;
    } else {
      const BlockQ4_K* blk = static_cast<const BlockQ4_K*>(w) + b;
      d_bits = blk->d, dmin_bits = blk->dmin, packed_scales = blk->scales, qs = blk->qs;
    }
    uint8_t scales[8], mins[8];
    unpack_scales_k4(packed_scales, scales, mins);
    // Each min twice, as int16: one madd against the 16 bsums gives min_j * sum(y over sub-block j) pairs.
    alignas(32) int16_t mins_by_16[16];
    for (int j = 0; j < 8; ++j) mins_by_16[2 * j] = mins_by_16[2 * j + 1] = mins[j];
    const __m256i mins16 = _mm256_load_si256(reinterpret_cast<const __m256i*>(mins_by_16));
    __m256i codes[8];
    const __m256i high_bits =
        kFifthBit ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qh)) : __m256i{};
    for (int c = 0; c < 4; ++c) {  // 64 elements: sub-block 2c in the low nibbles, 2c + 1 in the high
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * c));
      __m256i lo = _mm256_and_si256(q, low_mask);
      __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low_mask);
      if constexpr (kFifthBit) {
        const __m256i one = _mm256_set1_epi8(1);
        lo = _mm256_or_si256(
            lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(high_bits, 2 * c), one), 4));
        hi = _mm256_or_si256(
            hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(high_bits, 2 * c + 1), one), 4));
      }
      codes[2 * c] = lo, codes[2 * c + 1] = hi;
    }
    const float d = half_to_float(d_bits), dmin = half_to_float(dmin_bits);
    for (int j = 0; j < kRows; ++j) {
      const BlockQ8_K& y = xb[j][b];
      const int32_t min_sum = hsum_epi32(
          _mm256_madd_epi16(mins16, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y.bsums))));
      __m256i acc = _mm256_setzero_si256();
      for (int s = 0; s < 8; ++s) {
        const __m256i yq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y.qs + 32 * s));
        acc = _mm256_add_epi32(
            acc, _mm256_madd_epi16(_mm256_maddubs_epi16(codes[s], yq), _mm256_set1_epi16(scales[s])));
      }
      sum[j] = std::fma(
          y.d, std::fma(d, static_cast<float>(hsum_epi32(acc)), -(dmin * static_cast<float>(min_sum))),
          sum[j]);
    }
  }
  for (int j = 0; j < kRows; ++j) out[j] = sum[j];
}

// Q6_K: x = d * scale_s * (q - 32) per sub-block s of 16, so
// dot = dy * d * (sum_s scale_s * sum(q * y) - 32 * sum_s scale_s * bsum_s).
template <int kRows>
inline void dot_q6_k_multi(const void* w, const void* const* x, int64_t n, float* out) {
  const BlockQ6_K* wb = static_cast<const BlockQ6_K*>(w);
  const int64_t nb = n / kBlockK;
  const __m256i low_mask = _mm256_set1_epi8(0x0F), two_bits = _mm256_set1_epi8(3);
  const BlockQ8_K* xb[kRows];
  float sum[kRows];
  for (int j = 0; j < kRows; ++j) xb[j] = static_cast<const BlockQ8_K*>(x[j]), sum[j] = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    prefetch_blocks_ahead<BlockQ6_K>(wb, b);
    const BlockQ6_K& blk = wb[b];
    const __m128i scale_bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.scales));
    const __m256i scales16 = _mm256_cvtepi8_epi16(scale_bytes);
    // Even scales in the low lane, odd in the high one, as int16; element g of each lane broadcast within it
    // gives sub-blocks (2g, 2g + 1) of a 32-element pass.
    const __m256i scales_by_lane = _mm256_cvtepi8_epi16(
        _mm_shuffle_epi8(scale_bytes, _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15)));
    __m256i codes[8];
    for (int half = 0; half < 2; ++half) {  // 128 elements: 64 bytes of ql, 32 of qh
      const uint8_t* ql = blk.ql + 64 * half;
      const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.qh + 32 * half));
      const __m256i ql0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql));
      const __m256i ql1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32));
      __m256i* q = codes + 4 * half;
      q[0] = _mm256_or_si256(_mm256_and_si256(ql0, low_mask),
                             _mm256_slli_epi16(_mm256_and_si256(qh, two_bits), 4));
      q[1] = _mm256_or_si256(_mm256_and_si256(ql1, low_mask),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), two_bits), 4));
      q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low_mask),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), two_bits), 4));
      q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low_mask),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), two_bits), 4));
    }
    const float d = half_to_float(blk.d);
    for (int j = 0; j < kRows; ++j) {
      const BlockQ8_K& y = xb[j][b];
      // 32 * sum_s scale_s * bsum_s, as 8 int32 partial sums.
      const __m256i offset = _mm256_slli_epi32(
          _mm256_madd_epi16(scales16, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y.bsums))), 5);
      __m256i acc = _mm256_setzero_si256();
      for (int pass = 0; pass < 8; ++pass) {
        const __m256i yq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y.qs + 32 * pass));
        const __m256i scale = _mm256_shuffle_epi8(
            scales_by_lane, _mm256_set1_epi16(static_cast<int16_t>(0x0100 * (2 * pass + 1) + 2 * pass)));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(codes[pass], yq), scale));
      }
      sum[j] = std::fma(y.d * d, static_cast<float>(hsum_epi32(_mm256_sub_epi32(acc, offset))), sum[j]);
    }
  }
  for (int j = 0; j < kRows; ++j) out[j] = sum[j];
}

// The row and four-row entry points of the K-quant kernels (RowDot / RowDot4).
template <void (*kMulti1)(const void*, const void* const*, int64_t, float*)>
float dot_k_row(const void* w, const void* x, int64_t n) {
  float out;
  kMulti1(w, &x, n, &out);
  return out;
}

// Q2_K and Q3_K: the two-bit fields at shift 2k of a half's 32 qs bytes hold that half's elements
// 32k..32k+31, sub-blocks 2k (low 128-bit lane) and 2k + 1 (high lane) of the half.
// Q2_K: x = d * scale_s * q - dmin * min_s, so dot = dy * (d * sum_s scale_s * sum(q * y) - dmin * sum_s
// min_s * bsum_s). Q3_K: x = d * scale_s * (q' - 4) with q' = the two bits | the hmask bit << 2 (0..7), so
// dot = dy * d * (sum_s scale_s * sum(q' * y) - 4 * sum_s scale_s * bsum_s). Every integer sum is exact.
// kRows activation rows share each unpacked block; per pair the operations are those of kRows = 1.
template <bool kThreeBit, int kRows>
inline void dot_k23_multi(const void* w, const void* const* x, int64_t n, float* out) {
  const int64_t nb = n / kBlockK;
  const __m256i two_bits = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
  const BlockQ8_K* xb[kRows];
  float sum[kRows];
  for (int j = 0; j < kRows; ++j) xb[j] = static_cast<const BlockQ8_K*>(x[j]), sum[j] = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    prefetch_blocks_ahead<std::conditional_t<kThreeBit, BlockQ3_K, BlockQ2_K>>(w, b);
    // The 16 sub-block scales as bytes (Q3_K: signed, 6 bits less 32; Q2_K: the low nibbles) and what
    // multiplies each activation sum of 16 (Q3_K: the scale, for the -4 offset; Q2_K: the high nibble, the
    // min).
    __m128i scale_bytes, offset_bytes;
    const uint8_t* qs;
    __m256i hmask{};
    float d, dmin = 0.0f;
    if constexpr (kThreeBit) {
      const BlockQ3_K& blk = static_cast<const BlockQ3_K*>(w)[b];
      // Low nibbles of scales 0..7 in bytes 0..7, of 8..15 in their high halves; the top two bits of scale s
      // in byte 8 + s % 4 at bit 2 * (s / 4).
      uint32_t packed[3];
      __builtin_memcpy(packed, blk.scales, sizeof packed);
      const uint32_t nibbles = 0x0F0F0F0F, two = 0x03030303;
      const uint32_t s0 = (packed[0] & nibbles) | ((packed[2] & two) << 4);
      const uint32_t s1 = (packed[1] & nibbles) | (((packed[2] >> 2) & two) << 4);
      const uint32_t s2 = ((packed[0] >> 4) & nibbles) | (((packed[2] >> 4) & two) << 4);
      const uint32_t s3 = ((packed[1] >> 4) & nibbles) | (((packed[2] >> 6) & two) << 4);
      scale_bytes = _mm_sub_epi8(_mm_setr_epi32(static_cast<int32_t>(s0), static_cast<int32_t>(s1),
                                                static_cast<int32_t>(s2), static_cast<int32_t>(s3)),
                                 _mm_set1_epi8(32));
      offset_bytes = scale_bytes;
      qs = blk.qs;
      hmask = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk.hmask));
      d = half_to_float(blk.d);
    } else {
      const BlockQ2_K& blk = static_cast<const BlockQ2_K*>(w)[b];
      const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.scales));
      scale_bytes = _mm_and_si128(packed, _mm_set1_epi8(0x0F));
      offset_bytes = _mm_and_si128(_mm_srli_epi16(packed, 4), _mm_set1_epi8(0x0F));
      qs = blk.qs;
      d = half_to_float(blk.d), dmin = half_to_float(blk.dmin);
    }
    const __m256i offsets = _mm256_cvtepi8_epi16(offset_bytes);
    // Even scales in the low 128-bit lane, odd ones in the high lane, as int16: pass g's pair (sub-blocks 2g
    // and 2g + 1) is then element g of each lane, broadcast within the lane by one byte shuffle.
    const __m256i scales_by_lane = _mm256_cvtepi8_epi16(
        _mm_shuffle_epi8(scale_bytes, _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15)));
    __m256i codes[8], scale_pairs[8];
    for (int half = 0; half < 2; ++half) {
      const __m256i packed = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * half));
      for (int k = 0; k < 4; ++k) {
        const int g = 4 * half + k;
        __m256i q = _mm256_and_si256(_mm256_srli_epi16(packed, 2 * k), two_bits);
        if constexpr (kThreeBit)
          q = _mm256_or_si256(q, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hmask, g), one), 2));
        codes[g] = q;
        scale_pairs[g] = _mm256_shuffle_epi8(
            scales_by_lane, _mm256_set1_epi16(static_cast<int16_t>(0x0100 * (2 * g + 1) + 2 * g)));
      }
    }
    for (int j = 0; j < kRows; ++j) {
      const BlockQ8_K& y = xb[j][b];
      const __m256i offset_sums =
          _mm256_madd_epi16(offsets, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y.bsums)));
      __m256i acc = _mm256_setzero_si256();
      for (int g = 0; g < 8; ++g) {
        const __m256i yq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y.qs + 32 * g));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(codes[g], yq), scale_pairs[g]));
      }
      if constexpr (kThreeBit) {
        sum[j] = std::fma(
            y.d * d, static_cast<float>(hsum_epi32(_mm256_sub_epi32(acc, _mm256_slli_epi32(offset_sums, 2)))),
            sum[j]);
      } else {
        sum[j] = std::fma(y.d,
                          std::fma(d, static_cast<float>(hsum_epi32(acc)),
                                   -(dmin * static_cast<float>(hsum_epi32(offset_sums)))),
                          sum[j]);
      }
    }
  }
  for (int j = 0; j < kRows; ++j) out[j] = sum[j];
}

TypeKernel kernel_for(TensorType type) {
  switch (type) {
    case TensorType::F32:
      return {ActivationFormat::f32, dot_f32_row};
    case TensorType::F16:
      return {ActivationFormat::f32, dot_f16_row};
    case TensorType::BF16:
      return {ActivationFormat::f32, dot_bf16_row};
    case TensorType::Q8_0:
      return {ActivationFormat::q8_32, dot_32_row<Block32::q8_0>, dot4_32_row<Block32::q8_0>};
    case TensorType::Q4_0:
      return {ActivationFormat::q8_32, dot_32_row<Block32::q4_0>, dot4_32_row<Block32::q4_0>};
    case TensorType::Q4_1:
      return {ActivationFormat::q8_32, dot_32_row<Block32::q4_1>, dot4_32_row<Block32::q4_1>};
    case TensorType::Q5_0:
      return {ActivationFormat::q8_32, dot_32_row<Block32::q5_0>, dot4_32_row<Block32::q5_0>};
    case TensorType::Q5_1:
      return {ActivationFormat::q8_32, dot_32_row<Block32::q5_1>, dot4_32_row<Block32::q5_1>};
    case TensorType::Q2_K:
      return {ActivationFormat::q8_k, dot_k_row<dot_k23_multi<false, 1>>, dot_k23_multi<false, 4>};
    case TensorType::Q3_K:
      return {ActivationFormat::q8_k, dot_k_row<dot_k23_multi<true, 1>>, dot_k23_multi<true, 4>};
    case TensorType::Q4_K:
      return {ActivationFormat::q8_k, dot_k_row<dot_k4_multi<false, 1>>, dot_k4_multi<false, 4>};
    case TensorType::Q5_K:
      return {ActivationFormat::q8_k, dot_k_row<dot_k4_multi<true, 1>>, dot_k4_multi<true, 4>};
    case TensorType::Q6_K:
      return {ActivationFormat::q8_k, dot_k_row<dot_q6_k_multi<1>>, dot_q6_k_multi<4>};
    default:
      return {ActivationFormat::f32, nullptr};
  }
}

// ---- element-wise ops ----

// exp for |x| <= 88.3 with ~2 ulp error: exp(x) = 2^k * exp(r), k = round(x / ln 2), |r| <= ln(2) / 2,
// exp(r) by a degree-7 polynomial (Cephes' expf coefficients); ln 2 split in two for an exact reduction.
inline __m256 exp_ps(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
  const __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  const __m256 e_r = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
  const __m256i two_k =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(e_r, _mm256_castsi256_ps(two_k));
}

void axpy(float a, const float* x, float* y, int64_t n) {
  const __m256 av = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += a * x[i];
}

void scale(float a, float* y, int64_t n) {
  const __m256 av = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(av, _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] *= a;
}

float sum_squares(const float* x, int64_t n) {
  return dot_f32(x, x, n);
}

void scale_mul(const float* x, float s, const float* gain, float* out, int64_t n) {
  const __m256 sv = _mm256_set1_ps(s);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i,
                     _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), sv), _mm256_loadu_ps(gain + i)));
  for (; i < n; ++i) out[i] = x[i] * s * gain[i];
}

float exp_shifted(float* x, float max, int64_t n) {
  const __m256 mv = _mm256_set1_ps(max);
  __m256 acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), mv));
    _mm256_storeu_ps(x + i, e);
    acc = _mm256_add_ps(acc, e);
  }
  float sum = hsum_ps(acc);
  if (i < n) {  // the tail through the same vector exp, so every element has the same accuracy
    float tail[8];
    for (int j = 0; j < 8; ++j) tail[j] = i + j < n ? x[i + j] : max;
    const __m256 e = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(tail), mv));
    _mm256_storeu_ps(tail, e);
    for (int j = 0; i + j < n; ++j) sum += x[i + j] = tail[j];
  }
  return sum;
}

float max_of(const float* x, int64_t n) {
  __m256 m = _mm256_set1_ps(-INFINITY);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + i));
  float result = hmax_ps(m);
  for (; i < n; ++i) result = x[i] > result ? x[i] : result;
  return result;
}

inline __m256 swiglu_ps(__m256 g, __m256 u) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 sigmoid_denominator = _mm256_add_ps(one, exp_ps(_mm256_sub_ps(_mm256_setzero_ps(), g)));
  return _mm256_mul_ps(_mm256_div_ps(g, sigmoid_denominator), u);
}

void swiglu(const float* gate, const float* up, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, swiglu_ps(_mm256_loadu_ps(gate + i), _mm256_loadu_ps(up + i)));
  if (i < n) {
    float g[8] = {}, u[8] = {}, r[8];
    for (int j = 0; i + j < n; ++j) g[j] = gate[i + j], u[j] = up[i + j];
    _mm256_storeu_ps(r, swiglu_ps(_mm256_loadu_ps(g), _mm256_loadu_ps(u)));
    for (int j = 0; i + j < n; ++j) out[i + j] = r[j];
  }
}

void add(float* acc, const float* x, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(acc + i, _mm256_add_ps(_mm256_loadu_ps(acc + i), _mm256_loadu_ps(x + i)));
  for (; i < n; ++i) acc[i] += x[i];
}

// One attention head for one query: scores against n_keys cache rows, a max-shifted softmax, the
// weighted sum of V rows. All in one function so that heads of 8 or 64 dims pay no call per key.
// Both halves keep several FMA chains in flight (4 keys' scores at once; 8 output vectors at once) because
// one chain runs at FMA latency, a quarter of throughput, and in a decode step this is most of attention.
// Each score and each output element still sums its terms in the same order as a single chain would.
inline float head_dot(const float* a, const float* b, int head_dim) {
  __m256 acc = _mm256_setzero_ps();
  int d = 0;
  for (; d + 8 <= head_dim; d += 8)
    acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + d), _mm256_loadu_ps(b + d), acc);
  float sum = hsum_ps(acc);
  for (; d < head_dim; ++d) sum += a[d] * b[d];
  return sum;
}

// out[0 .. 8 * kVectors) = sum over keys of scores[key] * v row key, times inv_total.
template <int kVectors>
inline void weighted_rows(const float* scores, const float* v, int64_t v_stride, int64_t n_keys,
                          float inv_total, float* out) {
  __m256 acc[kVectors];
  for (int j = 0; j < kVectors; ++j) acc[j] = _mm256_setzero_ps();
  for (int64_t key = 0; key < n_keys; ++key) {
    const __m256 s = _mm256_set1_ps(scores[key]);
    const float* row = v + key * v_stride;
    for (int j = 0; j < kVectors; ++j) acc[j] = _mm256_fmadd_ps(s, _mm256_loadu_ps(row + 8 * j), acc[j]);
  }
  for (int j = 0; j < kVectors; ++j)
    _mm256_storeu_ps(out + 8 * j, _mm256_mul_ps(acc[j], _mm256_set1_ps(inv_total)));
}

void attend_head(const float* q, const float* k, int64_t k_stride, const float* v, int64_t v_stride,
                 int64_t n_keys, int head_dim, float scale, float* scores, float* out) {
  int64_t key = 0;
  if (head_dim % 8 == 0) {
    for (; key + 4 <= n_keys; key += 4) {
      const float* rows[4];
      __m256 acc[4];
      for (int j = 0; j < 4; ++j) rows[j] = k + (key + j) * k_stride, acc[j] = _mm256_setzero_ps();
      for (int d = 0; d < head_dim; d += 8) {
        const __m256 qd = _mm256_loadu_ps(q + d);
        for (int j = 0; j < 4; ++j) acc[j] = _mm256_fmadd_ps(qd, _mm256_loadu_ps(rows[j] + d), acc[j]);
      }
      for (int j = 0; j < 4; ++j) scores[key + j] = hsum_ps(acc[j]) * scale;
    }
  }
  for (; key < n_keys; ++key) scores[key] = head_dot(q, k + key * k_stride, head_dim) * scale;
  float max_score = -INFINITY;
  for (key = 0; key < n_keys; ++key) max_score = scores[key] > max_score ? scores[key] : max_score;
  const float inv_total = 1.0f / exp_shifted(scores, max_score, n_keys);
  int d = 0;
  for (; d + 64 <= head_dim; d += 64) weighted_rows<8>(scores, v + d, v_stride, n_keys, inv_total, out + d);
  for (; d + 8 <= head_dim; d += 8) weighted_rows<1>(scores, v + d, v_stride, n_keys, inv_total, out + d);
  for (; d < head_dim; ++d) {
    float acc = 0;
    for (int64_t key = 0; key < n_keys; ++key) acc += scores[key] * v[key * v_stride + d];
    out[d] = acc * inv_total;
  }
}

constexpr SimdKernels make_kernels(const char* isa) {
  SimdKernels k;
  k.isa = isa;
  k.kernel_for = kernel_for;
  k.quantize_q8_32 = quantize_q8_32;
  k.quantize_q8_k = quantize_q8_k;
  k.dot_f32 = dot_f32;
  k.axpy = axpy;
  k.scale = scale;
  k.sum_squares = sum_squares;
  k.scale_mul = scale_mul;
  k.exp_shifted = exp_shifted;
  k.max = max_of;
  k.swiglu = swiglu;
  k.add = add;
  k.attend_head = attend_head;
  return k;
}
