// Scalar reference numerics of every tensor type: half/bfloat conversions, dequantization in GGUF's
// element order, and quantizers whose searches follow the ideas of ggml's reference quantizers so that
// files we write dequantize to (nearly) the same values llama.cpp's tools would produce.
#include "kernels/quant.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "base/error.h"
#include "kernels/quant_blocks.h"

namespace llamascope {

// ---------------------------------------------------------------------------------------------------
// Half and bfloat16

float fp16_to_fp32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exponent = (h >> 10) & 0x1F;
  const uint32_t mantissa = h & 0x3FF;
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24 is exact in float.
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  if (exponent == 31)
    return std::bit_cast<float>(sign | 0x7F800000u | (mantissa << 13));  // inf / NaN, payload kept
  return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

uint16_t fp32_to_fp16(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000);
  const uint32_t magnitude = u & 0x7FFFFFFFu;
  if (magnitude > 0x7F800000u) {
    // NaN stays NaN: keep the top payload bits and force the quiet bit so the payload cannot become 0.
    return static_cast<uint16_t>(sign | 0x7E00 | ((magnitude >> 13) & 0x3FF));
  }
  if (magnitude >= 0x38800000u) {  // a normal half (or overflow to infinity)
    const uint32_t rebiased = magnitude - (112u << 23);
    const uint32_t rounded = (rebiased + 0xFFF + ((rebiased >> 13) & 1)) >> 13;  // carries into exponent
    return static_cast<uint16_t>(sign | std::min<uint32_t>(rounded, 0x7C00));
  }
  const uint32_t exponent = magnitude >> 23;
  if (exponent < 102) return sign;  // below half the smallest subnormal: rounds to zero
  // Subnormal half: shift the full significand so its units are 2^-24, rounding to nearest even.
  const uint32_t significand = (magnitude & 0x7FFFFF) | 0x800000;
  const uint32_t shift = 126 - exponent;  // 14..24
  uint32_t result = significand >> shift;
  const uint32_t remainder = significand & ((1u << shift) - 1);
  const uint32_t half = 1u << (shift - 1);
  if (remainder > half || (remainder == half && (result & 1))) ++result;
  return static_cast<uint16_t>(sign | result);
}

float bf16_to_fp32(uint16_t h) {
  return std::bit_cast<float>(static_cast<uint32_t>(h) << 16);
}

uint16_t fp32_to_bf16(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // quiet NaN
  return static_cast<uint16_t>((u + 0x7FFF + ((u >> 16) & 1)) >> 16);
}

// Scale and min j (0..7) of a Q4_K/Q5_K block: six bits each. j < 4: low 6 bits of bytes j and j + 4.
// j >= 4: low/high nibble of byte j + 4 and the top two bits of bytes j - 4 and j.
void k4_scale_min(const uint8_t* scales, int j, uint8_t* scale, uint8_t* min) {
  if (j < 4) {
    *scale = scales[j] & 63;
    *min = scales[j + 4] & 63;
  } else {
    *scale = static_cast<uint8_t>((scales[j + 4] & 0xF) | ((scales[j - 4] >> 6) << 4));
    *min = static_cast<uint8_t>((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4));
  }
}

namespace {

float half(uint16_t h) {
  return fp16_to_fp32(h);
}
uint16_t to_half(float f) {
  return fp32_to_fp16(f);
}

// Round to nearest, ties to even, independent of the FPU rounding mode; valid for |x| < 2^22, which
// every caller guarantees by scaling into a small quantization range (anything else is clamped later).
int nearest_int(float x) {
  const float shifted = x + 12582912.f;  // 1.5 * 2^23: the integer lands in the low mantissa bits
  return static_cast<int>(std::bit_cast<uint32_t>(shifted) & 0x007FFFFF) - 0x00400000;
}

// Sub-blocks whose largest magnitude is below this quantize to all zeros.
constexpr float kGroupMaxEps = 1e-15f;

// ---------------------------------------------------------------------------------------------------
// Dequantization (element order exactly as in GGUF files)

// The 16-bit float types' elements, so that every type has a block type (a float type's block is one
// element).
struct Fp16 {
  uint16_t bits;
};
struct Bf16 {
  uint16_t bits;
};

void dequantize_blocks(const float* x, float* y, int64_t n) {
  std::memcpy(y, x, static_cast<size_t>(n) * sizeof(float));
}
void dequantize_blocks(const Fp16* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = fp16_to_fp32(x[i].bits);
}
void dequantize_blocks(const Bf16* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_fp32(x[i].bits);
}

void dequantize_blocks(const BlockQ4_0* blocks, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kBlock32) {
    const float d = half(blocks[i].d);
    for (int j = 0; j < kBlock32 / 2; ++j) {
      y[j] = static_cast<float>((blocks[i].qs[j] & 0xF) - 8) * d;
      y[j + 16] = static_cast<float>((blocks[i].qs[j] >> 4) - 8) * d;
    }
  }
}

void dequantize_blocks(const BlockQ4_1* blocks, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kBlock32) {
    const float d = half(blocks[i].d), m = half(blocks[i].m);
    for (int j = 0; j < kBlock32 / 2; ++j) {
      y[j] = static_cast<float>(blocks[i].qs[j] & 0xF) * d + m;
      y[j + 16] = static_cast<float>(blocks[i].qs[j] >> 4) * d + m;
    }
  }
}

uint32_t load_u32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
         static_cast<uint32_t>(p[3]) << 24;
}

// The 5-bit value of element j (0..31) of a Q5_0/Q5_1 block.
int q5_value(const uint8_t* qs, uint32_t qh, int j) {
  const int low = j < 16 ? (qs[j] & 0xF) : (qs[j - 16] >> 4);
  return low | static_cast<int>(((qh >> j) & 1) << 4);
}

void dequantize_blocks(const BlockQ5_0* blocks, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kBlock32) {
    const float d = half(blocks[i].d);
    const uint32_t qh = load_u32(blocks[i].qh);
    for (int j = 0; j < kBlock32; ++j) y[j] = static_cast<float>(q5_value(blocks[i].qs, qh, j) - 16) * d;
  }
}

void dequantize_blocks(const BlockQ5_1* blocks, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kBlock32) {
    const float d = half(blocks[i].d), m = half(blocks[i].m);
    const uint32_t qh = load_u32(blocks[i].qh);
    for (int j = 0; j < kBlock32; ++j) y[j] = static_cast<float>(q5_value(blocks[i].qs, qh, j)) * d + m;
  }
}

void dequantize_blocks(const BlockQ8_0* blocks, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kBlock32) {
    const float d = half(blocks[i].d);
    for (int j = 0; j < kBlock32; ++j) y[j] = static_cast<float>(blocks[i].qs[j]) * d;
  }
}

void dequantize_blocks(const BlockQ8_1* blocks, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kBlock32) {
    const float d = half(blocks[i].d);
    for (int j = 0; j < kBlock32; ++j) y[j] = static_cast<float>(blocks[i].qs[j]) * d;
  }
}

// Q2_K, Q3_K and Q6_K store 256 values as two halves of 128; within a half, 2-bit fields at shift 2*k
// of byte l hold element 32*k + l, and each run of 16 elements has its own scale.
void dequantize_blocks(const BlockQ2_K* blocks, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = half(blocks[i].d), dmin = half(blocks[i].dmin);
    const uint8_t* q = blocks[i].qs;
    int scale_index = 0;
    for (int n = 0; n < kBlockK; n += 128, q += 32) {
      for (int shift = 0; shift < 8; shift += 2) {
        for (int part = 0; part < 2; ++part) {
          const uint8_t sc = blocks[i].scales[scale_index++];
          const float dl = d * static_cast<float>(sc & 0xF);
          const float ml = dmin * static_cast<float>(sc >> 4);
          for (int l = 0; l < 16; ++l) *y++ = dl * static_cast<float>((q[l + 16 * part] >> shift) & 3) - ml;
        }
      }
    }
  }
}

}  // namespace

// The 16 six-bit Q3_K scales (offset by 32): low nibbles in bytes 0..7 (scales 0..7 in the low halves,
// 8..15 in the high halves), and the top two bits of scale j in byte 8 + j % 4 at bit 2 * (j / 4).
int q3_k_scale(const uint8_t* scales, int j) {
  const int low = j < 8 ? (scales[j] & 0xF) : (scales[j - 8] >> 4);
  const int high = (scales[8 + j % 4] >> (2 * (j / 4))) & 3;
  return (low | (high << 4)) - 32;
}

namespace {

void dequantize_blocks(const BlockQ3_K* blocks, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = half(blocks[i].d);
    const uint8_t* q = blocks[i].qs;
    const uint8_t* hmask = blocks[i].hmask;
    uint8_t hbit = 1;
    int scale_index = 0;
    for (int n = 0; n < kBlockK; n += 128, q += 32) {
      for (int shift = 0; shift < 8; shift += 2, hbit <<= 1) {
        for (int part = 0; part < 2; ++part) {
          const float dl = d * static_cast<float>(q3_k_scale(blocks[i].scales, scale_index++));
          for (int l = 16 * part; l < 16 * part + 16; ++l) {
            const int value = ((q[l] >> shift) & 3) - ((hmask[l] & hbit) ? 0 : 4);
            *y++ = dl * static_cast<float>(value);
          }
        }
      }
    }
  }
}

void dequantize_blocks(const BlockQ4_K* blocks, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = half(blocks[i].d), dmin = half(blocks[i].dmin);
    const uint8_t* q = blocks[i].qs;
    for (int sub = 0; sub < 8; sub += 2, q += 32) {
      uint8_t sc, m;
      k4_scale_min(blocks[i].scales, sub, &sc, &m);
      const float d1 = d * sc, m1 = dmin * m;
      k4_scale_min(blocks[i].scales, sub + 1, &sc, &m);
      const float d2 = d * sc, m2 = dmin * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
    }
  }
}

void dequantize_blocks(const BlockQ5_K* blocks, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = half(blocks[i].d), dmin = half(blocks[i].dmin);
    const uint8_t* ql = blocks[i].qs;
    const uint8_t* qh = blocks[i].qh;
    uint8_t bit_low = 1, bit_high = 2;  // qh bit of the low-nibble and high-nibble sub-block of this pair
    for (int sub = 0; sub < 8; sub += 2, ql += 32, bit_low <<= 2, bit_high <<= 2) {
      uint8_t sc, m;
      k4_scale_min(blocks[i].scales, sub, &sc, &m);
      const float d1 = d * sc, m1 = dmin * m;
      k4_scale_min(blocks[i].scales, sub + 1, &sc, &m);
      const float d2 = d * sc, m2 = dmin * m;
      for (int l = 0; l < 32; ++l)
        *y++ = d1 * static_cast<float>((ql[l] & 0xF) + ((qh[l] & bit_low) ? 16 : 0)) - m1;
      for (int l = 0; l < 32; ++l)
        *y++ = d2 * static_cast<float>((ql[l] >> 4) + ((qh[l] & bit_high) ? 16 : 0)) - m2;
    }
  }
}

// Q6_K: per half of 128, ql[l] holds elements l (low nibble) and l + 64 (high), ql[l + 32] elements
// l + 32 and l + 96; qh[l] holds the top two bits of l, l + 32, l + 64, l + 96 at shifts 0, 2, 4, 6.
void dequantize_blocks(const BlockQ6_K* blocks, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = half(blocks[i].d);
    const uint8_t* ql = blocks[i].ql;
    const uint8_t* qh = blocks[i].qh;
    const int8_t* sc = blocks[i].scales;
    for (int n = 0; n < kBlockK; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * static_cast<float>(sc[is + 0]) * static_cast<float>(q1);
        y[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
        y[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
        y[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
      }
    }
  }
}

void dequantize_blocks(const BlockQ8_K* blocks, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kBlockK) {
    for (int j = 0; j < kBlockK; ++j) y[j] = blocks[i].d * static_cast<float>(blocks[i].qs[j]);
  }
}

// ---------------------------------------------------------------------------------------------------
// Legacy (32-element) quantizers

// The signed value of largest magnitude (0 if all are 0); *amax_out, when given, receives its magnitude.
// Q4_0/Q5_0 map it to the most negative level, so its sign decides the direction of the scale and the
// full range of levels is used on that side.
float signed_abs_max(const float* x, int n, float* amax_out = nullptr) {
  float amax = 0, max = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax_out) *amax_out = amax;
  return max;
}

void min_max(const float* x, int n, float* min, float* max) {
  *min = x[0];
  *max = x[0];
  for (int j = 1; j < n; ++j) {
    *min = std::min(*min, x[j]);
    *max = std::max(*max, x[j]);
  }
}

// Q4_1/Q5_1: x ~ m + d * q with q in [0, levels]; stores d and m in the block and returns m and 1 / d
// (0 for a flat block).
template <class Block>
std::pair<float, float> set_affine_scale(const float* x, int levels, Block& block) {
  float min, max;
  min_max(x, kBlock32, &min, &max);
  const float d = (max - min) / levels;
  block.d = to_half(d);
  block.m = to_half(min);
  return {min, d != 0 ? 1.0f / d : 0.0f};
}

// Truncating conversion clamped to [0, hi], total for NaN (unlike a bare cast).
int clamp_truncate(float v, int hi) {
  if (!(v >= 0)) return 0;
  if (v >= static_cast<float>(hi)) return hi;
  return static_cast<int>(v);
}

void quantize_blocks(const float* x, float* y, int64_t n) {
  std::memcpy(y, x, static_cast<size_t>(n) * sizeof(float));
}
void quantize_blocks(const float* x, Fp16* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i].bits = fp32_to_fp16(x[i]);
}
void quantize_blocks(const float* x, Bf16* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i].bits = fp32_to_bf16(x[i]);
}

void quantize_blocks(const float* x, BlockQ4_0* blocks, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kBlock32) {
    const float d = signed_abs_max(x, kBlock32) / -8;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    blocks[i].d = to_half(d);
    for (int j = 0; j < 16; ++j) {
      const int q0 = clamp_truncate(x[j] * id + 8.5f, 15);
      const int q1 = clamp_truncate(x[j + 16] * id + 8.5f, 15);
      blocks[i].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

void quantize_blocks(const float* x, BlockQ4_1* blocks, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kBlock32) {
    const auto [min, id] = set_affine_scale(x, 15, blocks[i]);
    for (int j = 0; j < 16; ++j) {
      const int q0 = clamp_truncate((x[j] - min) * id + 0.5f, 15);
      const int q1 = clamp_truncate((x[j + 16] - min) * id + 0.5f, 15);
      blocks[i].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

void store_q5(const int* q, uint8_t* qs, uint8_t* qh_bytes) {
  uint32_t qh = 0;
  for (int j = 0; j < 16; ++j) {
    qs[j] = static_cast<uint8_t>((q[j] & 0xF) | ((q[j + 16] & 0xF) << 4));
    qh |= static_cast<uint32_t>((q[j] >> 4) & 1) << j;
    qh |= static_cast<uint32_t>((q[j + 16] >> 4) & 1) << (j + 16);
  }
  for (int b = 0; b < 4; ++b) qh_bytes[b] = static_cast<uint8_t>(qh >> (8 * b));
}

void quantize_blocks(const float* x, BlockQ5_0* blocks, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kBlock32) {
    const float d = signed_abs_max(x, kBlock32) / -16;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    blocks[i].d = to_half(d);
    int q[kBlock32];
    for (int j = 0; j < kBlock32; ++j) q[j] = clamp_truncate(x[j] * id + 16.5f, 31);
    store_q5(q, blocks[i].qs, blocks[i].qh);
  }
}

void quantize_blocks(const float* x, BlockQ5_1* blocks, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kBlock32) {
    const auto [min, id] = set_affine_scale(x, 31, blocks[i]);
    int q[kBlock32];
    for (int j = 0; j < kBlock32; ++j) q[j] = clamp_truncate((x[j] - min) * id + 0.5f, 31);
    store_q5(q, blocks[i].qs, blocks[i].qh);
  }
}

float abs_max(const float* x, int n) {
  float amax = 0;
  for (int j = 0; j < n; ++j) amax = std::max(amax, std::fabs(x[j]));
  return amax;
}

int8_t round_to_int8(float v) {
  return static_cast<int8_t>(std::clamp(std::round(v), -127.0f, 127.0f));
}

void quantize_blocks(const float* x, BlockQ8_0* blocks, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kBlock32) {
    const float d = abs_max(x, kBlock32) / 127;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    blocks[i].d = to_half(d);
    for (int j = 0; j < kBlock32; ++j) blocks[i].qs[j] = round_to_int8(x[j] * id);
  }
}

void quantize_blocks(const float* x, BlockQ8_1* blocks, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kBlock32) {
    const float d = abs_max(x, kBlock32) / 127;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    blocks[i].d = to_half(d);
    int sum = 0;
    for (int j = 0; j < kBlock32; ++j) {
      blocks[i].qs[j] = round_to_int8(x[j] * id);
      sum += blocks[i].qs[j];
    }
    blocks[i].s = to_half(static_cast<float>(sum) * d);
  }
}

// ---------------------------------------------------------------------------------------------------
// K-quant searches

// Asymmetric fit x ~ scale * L + min with L in [0, nmax] and min <= 0, minimizing the weighted error
// (absolute if kAbsoluteError, else squared). Starts from the min/max grid, then walks nsteps + 1 grids
// of slightly different density; for each grid's levels it solves the weighted least-squares scale and
// min in closed form and keeps it if it is better. As in ggml, an accepted fit moves the origin of the
// following grids to its min. Returns the scale; *neg_min = -min (>= 0).
//
// Speed without changing a bit: kLanes consecutive grids are evaluated side by side (the compiler
// vectorizes across grids while each grid's sums still accumulate in element order); the first
// improving grid is accepted and the walk resumes right after it with the new origin.
template <bool kAbsoluteError>
float fit_scale_min(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* neg_min,
                    float grid_start, float grid_step, int nsteps) {
  constexpr int kLanes = 8;
  constexpr int kMaxElems = 32;
  float min = x[0], max = x[0];
  float sum_w = weights[0], sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    min = std::min(min, x[i]);
    max = std::max(max, x[i]);
    sum_w += weights[i];
    sum_x += weights[i] * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    std::fill(L, L + n, 0);
    *neg_min = -min;
    return 0;
  }
  auto error_of = [](float diff) { return kAbsoluteError ? std::fabs(diff) : diff * diff; };
  const float first_iscale = nmax / (max - min);
  float scale = 1 / first_iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    L[i] = static_cast<uint8_t>(std::clamp(nearest_int(first_iscale * (x[i] - min)), 0, nmax));
    best_error += weights[i] * error_of(scale * L[i] + min - x[i]);
  }
  int step = 0;
  while (step <= nsteps) {
    float iscales[kLanes], sum_l[kLanes] = {}, sum_l2[kLanes] = {}, sum_xl[kLanes] = {};
    float levels[kMaxElems][kLanes];
    for (int s = 0; s < kLanes; ++s) iscales[s] = (grid_start + grid_step * (step + s) + nmax) / (max - min);
    for (int i = 0; i < n; ++i) {
      const float offset = x[i] - min, w = weights[i], xi = x[i];
      for (int s = 0; s < kLanes; ++s) {
        const float l = static_cast<float>(std::clamp(nearest_int(iscales[s] * offset), 0, nmax));
        levels[i][s] = l;
        sum_l[s] += w * l;
        sum_l2[s] += w * l * l;
        sum_xl[s] += w * l * xi;
      }
    }
    float scales[kLanes], mins[kLanes], dets[kLanes], errors[kLanes] = {};
    for (int s = 0; s < kLanes; ++s) {
      dets[s] = sum_w * sum_l2[s] - sum_l[s] * sum_l[s];
      scales[s] = (sum_w * sum_xl[s] - sum_x * sum_l[s]) / dets[s];
      mins[s] = (sum_l2[s] * sum_x - sum_l[s] * sum_xl[s]) / dets[s];
      if (mins[s] > 0) {  // a positive offset is not representable: refit the scale alone
        mins[s] = 0;
        scales[s] = sum_xl[s] / sum_l2[s];
      }
    }
    for (int i = 0; i < n; ++i) {
      const float w = weights[i], xi = x[i];
      for (int s = 0; s < kLanes; ++s) errors[s] += w * error_of(scales[s] * levels[i][s] + mins[s] - xi);
    }
    int accepted = -1;
    for (int s = 0; s < kLanes && step + s <= nsteps; ++s) {
      if (dets[s] > 0 && errors[s] < best_error) {
        accepted = s;
        break;
      }
    }
    if (accepted < 0) {
      step += kLanes;
      continue;
    }
    for (int i = 0; i < n; ++i) L[i] = static_cast<uint8_t>(levels[i][accepted]);
    best_error = errors[accepted];
    scale = scales[accepted];
    min = mins[accepted];
    step += accepted + 1;
  }
  *neg_min = -min;
  return scale;
}

// The weight of element i in the symmetric fits' least squares: x^2, times its importance when given.
float symmetric_weight(const float* x, const float* importance, int i) {
  return importance ? importance[i] * x[i] * x[i] : x[i] * x[i];
}

// Where both symmetric fits start: the grid mapping the extreme value `max` to -nmax, its levels
// l in [-nmax, nmax - 1] (into `levels`) and their weighted sums of l * x and l^2.
struct StartGrid {
  float max = 0, sum_lx = 0, sum_l2 = 0;
};
// nullopt (and L all zero) for a group too close to zero to fit.
std::optional<StartGrid> extreme_value_grid(int n, int nmax, const float* x, const float* importance,
                                            int* levels, uint8_t* L) {
  float amax;
  StartGrid g;
  g.max = signed_abs_max(x, n, &amax);
  if (amax < kGroupMaxEps) {
    std::fill(L, L + n, 0);
    return std::nullopt;
  }
  const float iscale = -nmax / g.max;
  for (int i = 0; i < n; ++i) {
    levels[i] = std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1);
    const float w = symmetric_weight(x, importance, i);
    g.sum_lx += w * x[i] * levels[i];
    g.sum_l2 += w * levels[i] * levels[i];
  }
  return g;
}

// Symmetric fit x ~ scale * l with l in [-nmax, nmax - 1], weighted by x^2 (times `importance`): tries
// 19 grid densities around the one mapping the extreme value to -nmax and keeps the levels with the
// best least-squares score. L receives l + nmax. Returns the scale (may be negative).
float fit_symmetric(int n, int nmax, const float* x, uint8_t* L, const float* importance) {
  int levels[kBlockK];
  const std::optional<StartGrid> start = extreme_value_grid(n, nmax, x, importance, levels, L);
  if (!start) return 0;
  const auto [max, sum_lx, sum_l2] = *start;
  auto weight = [&](int i) { return symmetric_weight(x, importance, i); };
  auto level = [&](float iscale, int i) { return std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1); };
  for (int i = 0; i < n; ++i) L[i] = static_cast<uint8_t>(levels[i] + nmax);
  float scale = sum_l2 != 0 ? sum_lx / sum_l2 : 0;
  float best = scale * sum_lx;
  // The 18 other grids (steps -9..9 except 0) are summed side by side so the compiler can vectorize
  // across them; each grid's sums still accumulate in element order, then the grids are judged in
  // step order exactly as one at a time would be.
  constexpr int kGrids = 18, kLanes = 20;
  float iscales[kLanes], lane_lx[kLanes] = {}, lane_l2[kLanes] = {};
  for (int s = 0; s < kLanes; ++s) {
    const int step = s < 9 ? s - 9 : std::min(s - 8, 9);
    iscales[s] = -(nmax + 0.1f * step) / max;
  }
  for (int i = 0; i < n; ++i) {
    const float w = weight(i), wx = w * x[i], xi = x[i];
    for (int s = 0; s < kLanes; ++s) {
      const float l = static_cast<float>(std::clamp(nearest_int(iscales[s] * xi), -nmax, nmax - 1));
      lane_lx[s] += wx * l;
      lane_l2[s] += w * l * l;
    }
  }
  int chosen = -1;
  for (int s = 0; s < kGrids; ++s) {
    // sum_lx^2 / sum_l2 is the error reduction of the least-squares scale: larger is better.
    if (lane_l2[s] > 0 && lane_lx[s] * lane_lx[s] > best * lane_l2[s]) {
      chosen = s;
      scale = lane_lx[s] / lane_l2[s];
      best = scale * lane_lx[s];
    }
  }
  if (chosen >= 0) {
    for (int i = 0; i < n; ++i) L[i] = static_cast<uint8_t>(nmax + level(iscales[chosen], i));
  }
  return scale;
}

// Symmetric fit for 3-bit levels l in [-nmax, nmax - 1]: starts from the extreme-value grid, then
// repeatedly moves single elements to the level that is optimal given the others' least-squares fit
// (coordinate descent on the x^2-weighted error) while that improves it. L receives l + nmax.
float fit_symmetric_iterative(int n, int nmax, const float* x, uint8_t* L, const float* importance) {
  int levels[kBlockK];
  const std::optional<StartGrid> start = extreme_value_grid(n, nmax, x, importance, levels, L);
  if (!start) return 0;
  float sum_lx = start->sum_lx, sum_l2 = start->sum_l2;
  auto weight = [&](int i) { return symmetric_weight(x, importance, i); };
  for (int round = 0; round < 5; ++round) {
    int changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = weight(i);
      float other_lx = sum_lx - w * x[i] * levels[i];
      if (other_lx <= 0) continue;
      float other_l2 = sum_l2 - w * levels[i] * levels[i];
      const int candidate = std::clamp(nearest_int(x[i] * other_l2 / other_lx), -nmax, nmax - 1);
      if (candidate == levels[i]) continue;
      other_lx += w * x[i] * candidate;
      other_l2 += w * candidate * candidate;
      // Compare sum_lx^2 / sum_l2 before and after without dividing.
      if (other_l2 > 0 && other_lx * other_lx * sum_l2 > sum_lx * sum_lx * other_l2) {
        levels[i] = candidate;
        sum_lx = other_lx;
        sum_l2 = other_l2;
        ++changed;
      }
    }
    if (changed == 0) break;
  }
  for (int i = 0; i < n; ++i) L[i] = static_cast<uint8_t>(levels[i] + nmax);
  return sum_lx / sum_l2;
}

// Packs 256 two-bit values as Q2_K/Q3_K's qs: byte l of each half of 128 holds elements l, l + 32,
// l + 64, l + 96 at shifts 0, 2, 4, 6.
void pack_2bit(const uint8_t* L, uint8_t* qs) {
  for (int j = 0; j < kBlockK; j += 128) {
    for (int l = 0; l < 32; ++l) {
      qs[j / 4 + l] = static_cast<uint8_t>((L[j + l] & 3) | ((L[j + l + 32] & 3) << 2) |
                                           ((L[j + l + 64] & 3) << 4) | ((L[j + l + 96] & 3) << 6));
    }
  }
}

// Per-element weights for the asymmetric searches: |x| plus the block's RMS (so small values still
// count), times the caller's importance when given.
void search_weights(const float* x, const float* importance, int n, bool add_rms, float* weights) {
  float rms = 0;
  if (add_rms) {
    float sum_x2 = 0;
    for (int l = 0; l < n; ++l) sum_x2 += x[l] * x[l];
    rms = std::sqrt(sum_x2 / n);
  }
  for (int l = 0; l < n; ++l) {
    weights[l] = rms + std::fabs(x[l]);
    if (importance) weights[l] *= importance[l];
  }
}

// The K-quant fits stay out of line: inlined into quantize_row's dispatch, GCC compiles them into slower
// code.
[[gnu::noinline]] void quantize_blocks(const float* x, BlockQ2_K* blocks, int64_t nb,
                                       const float* importance);
[[gnu::noinline]] void quantize_blocks(const float* x, BlockQ3_K* blocks, int64_t nb,
                                       const float* importance);
[[gnu::noinline]] void quantize_blocks(const float* x, BlockQ4_K* blocks, int64_t nb,
                                       const float* importance);
[[gnu::noinline]] void quantize_blocks(const float* x, BlockQ5_K* blocks, int64_t nb,
                                       const float* importance);
[[gnu::noinline]] void quantize_blocks(const float* x, BlockQ6_K* blocks, int64_t nb,
                                       const float* importance);

void quantize_blocks(const float* x, BlockQ2_K* blocks, int64_t nb, const float* importance) {
  constexpr float kScaleLevels = 15;
  for (int64_t i = 0; i < nb; ++i, x += kBlockK) {
    const float* imp = importance ? importance + i * kBlockK : nullptr;
    BlockQ2_K& y = blocks[i];
    uint8_t L[kBlockK];
    float weights[16], scales[16], mins[16];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 16; ++j) {
      search_weights(x + 16 * j, imp ? imp + 16 * j : nullptr, 16, false, weights);
      scales[j] = fit_scale_min<true>(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], -0.5f, 0.1f, 15);
      max_scale = std::max(max_scale, scales[j]);
      max_min = std::max(max_min, mins[j]);
    }
    std::memset(y.scales, 0, sizeof y.scales);
    y.d = 0;
    y.dmin = 0;
    if (max_scale > 0) {
      const float iscale = kScaleLevels / max_scale;
      for (int j = 0; j < 16; ++j)
        y.scales[j] = static_cast<uint8_t>(std::clamp(nearest_int(iscale * scales[j]), 0, 15));
      y.d = to_half(max_scale / kScaleLevels);
    }
    if (max_min > 0) {
      const float iscale = kScaleLevels / max_min;
      for (int j = 0; j < 16; ++j)
        y.scales[j] |= static_cast<uint8_t>(std::clamp(nearest_int(iscale * mins[j]), 0, 15) << 4);
      y.dmin = to_half(max_min / kScaleLevels);
    }
    // Re-quantize against the rounded scales actually stored.
    for (int j = 0; j < 16; ++j) {
      const float d = half(y.d) * (y.scales[j] & 0xF);
      if (d == 0) continue;
      const float dm = half(y.dmin) * (y.scales[j] >> 4);
      for (int l = 0; l < 16; ++l)
        L[16 * j + l] = static_cast<uint8_t>(std::clamp(nearest_int((x[16 * j + l] + dm) / d), 0, 3));
    }
    pack_2bit(L, y.qs);
  }
}

// Fits the 16 sub-blocks of 16 of a super-block one by one (fit: fit_symmetric or fit_symmetric_iterative
// with nmax levels either side): scales[j] and the levels L[16 j, 16 j + 16).
template <typename Fit>
void fit_sub_blocks16(Fit fit, int nmax, const float* x, const float* imp, uint8_t* L, float* scales) {
  for (int j = 0; j < 16; ++j)
    scales[j] = fit(16, nmax, x + 16 * j, L + 16 * j, imp ? imp + 16 * j : nullptr);
}

// Re-quantizes the 16 sub-blocks of 16 against the rounded scales actually stored, d * sub_scale(j):
// L = x / scale rounded to [-nmax, nmax - 1], stored + nmax. A zero scale keeps the fitted levels.
template <typename SubScale>
void requantize_sub_blocks16(const float* x, float d, SubScale sub_scale, int nmax, uint8_t* L) {
  for (int j = 0; j < 16; ++j) {
    const float dj = d * sub_scale(j);
    if (dj == 0) continue;
    for (int l = 0; l < 16; ++l)
      L[16 * j + l] =
          static_cast<uint8_t>(std::clamp(nearest_int(x[16 * j + l] / dj), -nmax, nmax - 1) + nmax);
  }
}

void quantize_blocks(const float* x, BlockQ3_K* blocks, int64_t nb, const float* importance) {
  for (int64_t i = 0; i < nb; ++i, x += kBlockK) {
    BlockQ3_K& y = blocks[i];
    uint8_t L[kBlockK];
    float scales[16];
    fit_sub_blocks16(fit_symmetric_iterative, 4, x, importance ? importance + i * kBlockK : nullptr, L,
                     scales);
    const float max_scale = signed_abs_max(scales, 16);
    std::memset(y.scales, 0, sizeof y.scales);
    y.d = 0;
    if (max_scale != 0) {
      const float iscale = -32.f / max_scale;
      for (int j = 0; j < 16; ++j) {
        const int l = std::clamp(nearest_int(iscale * scales[j]), -32, 31) + 32;
        if (j < 8)
          y.scales[j] = static_cast<uint8_t>(l & 0xF);
        else
          y.scales[j - 8] |= static_cast<uint8_t>((l & 0xF) << 4);
        y.scales[8 + j % 4] |= static_cast<uint8_t>((l >> 4) << (2 * (j / 4)));
      }
      y.d = to_half(1 / iscale);
    }
    requantize_sub_blocks16(
        x, half(y.d), [&](int j) { return static_cast<float>(q3_k_scale(y.scales, j)); }, 4, L);
    // The third bit goes to hmask: element j's bit is bit j / 32 of byte j % 32.
    std::memset(y.hmask, 0, sizeof y.hmask);
    for (int j = 0; j < kBlockK; ++j) {
      if (L[j] > 3) {
        y.hmask[j % 32] |= static_cast<uint8_t>(1 << (j / 32));
        L[j] -= 4;
      }
    }
    pack_2bit(L, y.qs);
  }
}

// Packs eight 6-bit scales and mins into Q4_K/Q5_K's 12 bytes (inverse of k4_scale_min).
void pack_k4_scales(const uint8_t* ls, const uint8_t* lm, uint8_t* scales) {
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      scales[j] = ls[j];
      scales[j + 4] = lm[j];
    } else {
      scales[j + 4] = static_cast<uint8_t>((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
      scales[j - 4] |= static_cast<uint8_t>((ls[j] >> 4) << 6);
      scales[j] |= static_cast<uint8_t>((lm[j] >> 4) << 6);
    }
  }
}

// Shared by Q4_K (nmax 15) and Q5_K (nmax 31): 8 sub-blocks of 32, asymmetric fits, 6-bit scales and
// mins relative to the super-block's d and dmin. Writes d, dmin, scales and the levels L.
template <typename Block>
void quantize_k4_common(const float* x, Block& y, uint8_t* L, int nmax, float grid_start, int nsteps,
                        const float* imp) {
  float weights[32], scales[8], mins[8];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; ++j) {
    search_weights(x + 32 * j, imp ? imp + 32 * j : nullptr, 32, true, weights);
    scales[j] =
        fit_scale_min<false>(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], grid_start, 0.1f, nsteps);
    max_scale = std::max(max_scale, scales[j]);
    max_min = std::max(max_min, mins[j]);
  }
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  uint8_t ls[8], lm[8];
  for (int j = 0; j < 8; ++j) {
    ls[j] = static_cast<uint8_t>(std::clamp(nearest_int(inv_scale * scales[j]), 0, 63));
    lm[j] = static_cast<uint8_t>(std::clamp(nearest_int(inv_min * mins[j]), 0, 63));
  }
  std::memset(y.scales, 0, sizeof y.scales);
  pack_k4_scales(ls, lm, y.scales);
  y.d = to_half(max_scale / 63.f);
  y.dmin = to_half(max_min / 63.f);
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    k4_scale_min(y.scales, j, &sc, &m);
    const float d = half(y.d) * sc;
    if (d == 0) continue;
    const float dm = half(y.dmin) * m;
    for (int l = 0; l < 32; ++l)
      L[32 * j + l] = static_cast<uint8_t>(std::clamp(nearest_int((x[32 * j + l] + dm) / d), 0, nmax));
  }
}

void quantize_blocks(const float* x, BlockQ4_K* blocks, int64_t nb, const float* importance) {
  for (int64_t i = 0; i < nb; ++i, x += kBlockK) {
    uint8_t L[kBlockK];
    quantize_k4_common(x, blocks[i], L, 15, -1.f, 20, importance ? importance + i * kBlockK : nullptr);
    // Byte l of each 32-byte group holds element l (low nibble) and l + 32 (high) of a pair of sub-blocks.
    uint8_t* q = blocks[i].qs;
    for (int j = 0; j < kBlockK; j += 64, q += 32)
      for (int l = 0; l < 32; ++l) q[l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 4));
  }
}

void quantize_blocks(const float* x, BlockQ5_K* blocks, int64_t nb, const float* importance) {
  for (int64_t i = 0; i < nb; ++i, x += kBlockK) {
    uint8_t L[kBlockK];
    quantize_k4_common(x, blocks[i], L, 31, -0.5f, 15, importance ? importance + i * kBlockK : nullptr);
    uint8_t* ql = blocks[i].qs;
    uint8_t* qh = blocks[i].qh;
    std::memset(qh, 0, sizeof blocks[i].qh);
    uint8_t bit_low = 1, bit_high = 2;
    for (int n = 0; n < kBlockK; n += 64, ql += 32, bit_low <<= 2, bit_high <<= 2) {
      for (int j = 0; j < 32; ++j) {
        int l1 = L[n + j], l2 = L[n + j + 32];
        if (l1 > 15) {
          l1 -= 16;
          qh[j] |= bit_low;
        }
        if (l2 > 15) {
          l2 -= 16;
          qh[j] |= bit_high;
        }
        ql[j] = static_cast<uint8_t>(l1 | (l2 << 4));
      }
    }
  }
}

void quantize_blocks(const float* x, BlockQ6_K* blocks, int64_t nb, const float* importance) {
  for (int64_t i = 0; i < nb; ++i, x += kBlockK) {
    BlockQ6_K& y = blocks[i];
    uint8_t L[kBlockK];
    float scales[16];
    fit_sub_blocks16(fit_symmetric, 32, x, importance ? importance + i * kBlockK : nullptr, L, scales);
    float max_abs_scale;
    const float max_scale = signed_abs_max(scales, 16, &max_abs_scale);
    if (max_abs_scale < kGroupMaxEps) {
      std::memset(&y, 0, sizeof y);
      continue;
    }
    const float iscale = -128.f / max_scale;
    y.d = to_half(1 / iscale);
    for (int j = 0; j < 16; ++j)
      y.scales[j] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[j])));
    requantize_sub_blocks16(
        x, half(y.d), [&](int j) { return static_cast<float>(y.scales[j]); }, 32, L);
    uint8_t* ql = y.ql;
    uint8_t* qh = y.qh;
    for (int j = 0; j < kBlockK; j += 128, ql += 64, qh += 32) {
      for (int l = 0; l < 32; ++l) {
        ql[l] = static_cast<uint8_t>((L[j + l] & 0xF) | ((L[j + l + 64] & 0xF) << 4));
        ql[l + 32] = static_cast<uint8_t>((L[j + l + 32] & 0xF) | ((L[j + l + 96] & 0xF) << 4));
        qh[l] = static_cast<uint8_t>((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) |
                                     ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
      }
    }
  }
}

void quantize_blocks(const float* x, BlockQ8_K* blocks, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kBlockK) {
    BlockQ8_K& y = blocks[i];
    float amax;
    const float max = signed_abs_max(x, kBlockK, &amax);
    if (amax == 0) {
      std::memset(&y, 0, sizeof y);
      continue;
    }
    const float iscale = -127.f / max;
    for (int j = 0; j < kBlockK; ++j)
      y.qs[j] = static_cast<int8_t>(std::clamp(nearest_int(iscale * x[j]), -128, 127));
    for (int j = 0; j < kBlockK / 16; ++j) {
      int sum = 0;
      for (int l = 0; l < 16; ++l) sum += y.qs[16 * j + l];
      y.bsums[j] = static_cast<int16_t>(sum);
    }
    y.d = 1 / iscale;
  }
}

// Blocks in a row of n elements; throws unless the row is whole blocks.
int64_t row_blocks(TensorType type, int64_t n) {
  const int64_t block = type_info(type).block_elems;
  if (n < 0 || n % block != 0) {
    throw Error(std::string("quant: row of ") + std::to_string(n) + " elements is not a multiple of the " +
                type_name(type) + " block size " + std::to_string(block));
  }
  return n / block;
}

// Checks that a row of n elements of `type` is whole blocks and calls f(static_cast<Block*>(nullptr), blocks)
// with the type's block struct (float, Fp16, Bf16 for the float types) and the row's number of blocks.
template <typename F>
void visit_row(TensorType type, int64_t n, const char* verb, F&& f) {
  const int64_t blocks = row_blocks(type, n);
  switch (type) {
    case TensorType::F32:
      return f(static_cast<float*>(nullptr), blocks);
    case TensorType::F16:
      return f(static_cast<Fp16*>(nullptr), blocks);
    case TensorType::BF16:
      return f(static_cast<Bf16*>(nullptr), blocks);
    default:
      if (!visit_block_type(type, [&](auto* tag) { f(tag, blocks); }))
        throw Error(std::string("quant: cannot ") + verb + " type " +
                    std::to_string(static_cast<uint32_t>(type)));
  }
}

}  // namespace

void dequantize_row(TensorType type, const void* src, float* dst, int64_t n) {
  visit_row(type, n, "dequantize", [&](auto* tag, int64_t blocks) {
    dequantize_blocks(static_cast<const std::remove_pointer_t<decltype(tag)>*>(src), dst, blocks);
  });
}

bool can_quantize_to(TensorType type) {
  return type != TensorType::Q8_K && type != TensorType::Q8_1;
}

void quantize_row(TensorType type, const float* src, void* dst, int64_t n, const float* importance) {
  visit_row(type, n, "quantize to", [&](auto* tag, int64_t blocks) {
    auto* out = static_cast<std::remove_pointer_t<decltype(tag)>*>(dst);
    if constexpr (requires { quantize_blocks(src, out, blocks, importance); })
      quantize_blocks(src, out, blocks, importance);  // the K-quants fit against the importance
    else
      quantize_blocks(src, out, blocks);
  });
}

}  // namespace llamascope
