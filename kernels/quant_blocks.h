// Block layouts of the quantized tensor types, byte for byte as GGUF files store them (little endian).
// `d`/`dmin` fields are IEEE half floats stored as uint16_t. Every backend reads weights through these.
#pragma once

#include <cstdint>

#include "base/tensor_type.h"

namespace llamascope {

constexpr int kBlock32 = 32;  // elements per block of the legacy types
constexpr int kBlockK = 256;  // elements per super-block of the K-quants
constexpr int kScaleBytesK = 12;

// x = d * (q - 8), q = 4-bit: element j in the low nibble of qs[j], element j + 16 in the high nibble.
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kBlock32 / 2];
};
// x = d * q + m
struct BlockQ4_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qs[kBlock32 / 2];
};
// x = d * (q - 16), q = 5-bit: low 4 bits as Q4_0, bit 4 of element j is bit j of qh (little-endian u32).
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[kBlock32 / 2];
};
// x = d * q + m, q = 5-bit as Q5_0
struct BlockQ5_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[kBlock32 / 2];
};
// x = d * q
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kBlock32];
};
// Activation format: s = d * sum(qs)
struct BlockQ8_1 {
  uint16_t d;
  uint16_t s;
  int8_t qs[kBlock32];
};

// 16 sub-blocks of 16; scales[i]: low nibble = scale, high nibble = min (4-bit);
// x = d * scale * q - dmin * min, q = 2-bit.
struct BlockQ2_K {
  uint8_t scales[kBlockK / 16];
  uint8_t qs[kBlockK / 4];
  uint16_t d;
  uint16_t dmin;
};
// 16 sub-blocks of 16 with 6-bit signed scales packed in 12 bytes; q = 2 low bits (qs) + 1 high bit
// (hmask, set means +0, clear means -4): x = d * (scale - 32) * q.
struct BlockQ3_K {
  uint8_t hmask[kBlockK / 8];
  uint8_t qs[kBlockK / 4];
  uint8_t scales[kScaleBytesK];
  uint16_t d;
};
// 8 sub-blocks of 32 with 6-bit scales and mins packed in 12 bytes; x = d * scale * q - dmin * min.
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kScaleBytesK];
  uint8_t qs[kBlockK / 2];
};
// As Q4_K with a fifth bit per element in qh.
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kScaleBytesK];
  uint8_t qh[kBlockK / 8];
  uint8_t qs[kBlockK / 2];
};
// 16 sub-blocks of 16 with int8 scales; q = 6-bit (4 low bits in ql, 2 high in qh): x = d * scale * (q - 32).
struct BlockQ6_K {
  uint8_t ql[kBlockK / 2];
  uint8_t qh[kBlockK / 4];
  int8_t scales[kBlockK / 16];
  uint16_t d;
};
// Activation format for K-quant dot products: float scale, 256 int8, sums of each 16.
struct BlockQ8_K {
  float d;
  int8_t qs[kBlockK];
  int16_t bsums[kBlockK / 16];
};

// GGUF's block sizes.
static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22 &&
              sizeof(BlockQ5_1) == 24 && sizeof(BlockQ8_0) == 34 && sizeof(BlockQ8_1) == 36);
static_assert(sizeof(BlockQ2_K) == 84 && sizeof(BlockQ3_K) == 110 && sizeof(BlockQ4_K) == 144 &&
              sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210 && sizeof(BlockQ8_K) == 292);

// Calls f(static_cast<Block*>(nullptr)) with the block struct of a block-quantized type and returns true;
// false for the float types.
template <typename F>
bool visit_block_type(TensorType type, F&& f) {
  switch (type) {
    case TensorType::Q4_0:
      return f(static_cast<BlockQ4_0*>(nullptr)), true;
    case TensorType::Q4_1:
      return f(static_cast<BlockQ4_1*>(nullptr)), true;
    case TensorType::Q5_0:
      return f(static_cast<BlockQ5_0*>(nullptr)), true;
    case TensorType::Q5_1:
      return f(static_cast<BlockQ5_1*>(nullptr)), true;
    case TensorType::Q8_0:
      return f(static_cast<BlockQ8_0*>(nullptr)), true;
    case TensorType::Q8_1:
      return f(static_cast<BlockQ8_1*>(nullptr)), true;
    case TensorType::Q2_K:
      return f(static_cast<BlockQ2_K*>(nullptr)), true;
    case TensorType::Q3_K:
      return f(static_cast<BlockQ3_K*>(nullptr)), true;
    case TensorType::Q4_K:
      return f(static_cast<BlockQ4_K*>(nullptr)), true;
    case TensorType::Q5_K:
      return f(static_cast<BlockQ5_K*>(nullptr)), true;
    case TensorType::Q6_K:
      return f(static_cast<BlockQ6_K*>(nullptr)), true;
    case TensorType::Q8_K:
      return f(static_cast<BlockQ8_K*>(nullptr)), true;
    default:
      return false;
  }
}

}  // namespace llamascope
