// Packing of weight rows into the interleaved layouts of interleaved.h (plain C++, runs once per weight).
#include "kernels/simd/interleaved.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/quant.h"
#include "kernels/quant_blocks.h"

namespace llamascope::simd {
namespace {

// Copies dword `k` of each row's `bytes_per_row`-byte field (at `field_offset` within block `b` of
// `block_bytes`) into dst[16 rows][4 bytes]; missing rows stay zero.
void interleave_dword(const uint8_t* first_row, size_t src_row_bytes, int rows, size_t block_bytes, int64_t b,
                      size_t field_offset, int k, uint8_t flip, uint8_t* dst) {
  std::memset(dst, 0, kGroupRows * 4);
  for (int r = 0; r < rows; ++r) {
    const uint8_t* src = first_row + r * src_row_bytes + b * block_bytes + field_offset + 4 * k;
    for (int i = 0; i < 4; ++i) dst[4 * r + i] = src[i] ^ flip;
  }
}

template <typename Block>
const Block& block_of(const uint8_t* first_row, size_t src_row_bytes, int r, int64_t b) {
  return reinterpret_cast<const Block*>(first_row + r * src_row_bytes)[b];
}

// The block-32 types: per block, the rows' codes as interleaved dwords (Q8_0's as q + 128, unsigned for
// VPDPBUSD), then their qh words and their m (where the type has them), and their scales d in the chunk's
// scale area.
template <typename Block>
void pack_block32(const uint8_t* first_row, size_t src_row_bytes, int rows, int64_t nb, uint8_t* dst) {
  const uint8_t flip = std::is_same_v<Block, BlockQ8_0> ? 0x80 : 0;
  constexpr int kDwords = sizeof(Block::qs) / 4;
  constexpr size_t kCodeBytes = block32_code_bytes<Block>();
  for (int64_t b = 0; b < nb; ++b) {
    uint8_t* codes = dst + block32_codes_offset(b, nb, kCodeBytes);
    uint16_t* d = reinterpret_cast<uint16_t*>(dst + block32_scales_offset(b, kCodeBytes));
    for (int k = 0; k < kDwords; ++k)
      interleave_dword(first_row, src_row_bytes, rows, sizeof(Block), b, offsetof(Block, qs), k, flip,
                       codes + k * 64);
    if constexpr (kHasQh<Block>)
      interleave_dword(first_row, src_row_bytes, rows, sizeof(Block), b, offsetof(Block, qh), 0, 0,
                       codes + kQhOffset<Block>);
    if constexpr (kHasMin<Block>) {
      uint16_t* m = reinterpret_cast<uint16_t*>(codes + kMinOffset<Block>);
      for (int r = 0; r < rows; ++r) m[r] = block_of<Block>(first_row, src_row_bytes, r, b).m;
    }
    for (int r = 0; r < rows; ++r) d[r] = block_of<Block>(first_row, src_row_bytes, r, b).d;
  }
}

// Q4_K and Q5_K: per super-block, the rows' scales and mins unpacked to bytes, d, dmin, the codes as
// interleaved dwords, and Q5_K's qh as interleaved dwords.
template <typename Block>
void pack_k4(const uint8_t* first_row, size_t src_row_bytes, int rows, int64_t nsb, size_t group_bytes,
             uint8_t* dst) {
  for (int64_t b = 0; b < nsb; ++b) {
    uint8_t* sb = dst + b * group_bytes;
    for (int k = 0; k < 32; ++k)
      interleave_dword(first_row, src_row_bytes, rows, sizeof(Block), b, offsetof(Block, qs), k, 0,
                       sb + kQ4KCodes + k * 64);
    if constexpr (kHasQh<Block>)
      for (int k = 0; k < 8; ++k)
        interleave_dword(first_row, src_row_bytes, rows, sizeof(Block), b, offsetof(Block, qh), k, 0,
                         sb + kQ5KHighBits + k * 64);
    uint8_t* scales = sb + kQ4KScales;
    uint8_t* mins = sb + kQ4KMins;
    uint16_t* d = reinterpret_cast<uint16_t*>(sb + kQ4KD);
    uint16_t* dmin = reinterpret_cast<uint16_t*>(sb + kQ4KDmin);
    for (int r = 0; r < rows; ++r) {
      const Block& blk = block_of<Block>(first_row, src_row_bytes, r, b);
      for (int j = 0; j < 8; ++j)
        k4_scale_min(blk.scales, j, &scales[j * kGroupRows + r], &mins[j * kGroupRows + r]);
      d[r] = blk.d;
      dmin[r] = blk.dmin;
    }
  }
}

// F32 / F16 / BF16: runs of `run` elements of each row (BF16's pairs: 2, else 1) side by side, [cols / run]
// [16 rows][run], `element_bytes` each; missing rows stay zero.
void pack_float(const uint8_t* first_row, size_t src_row_bytes, int rows, int64_t cols, size_t element_bytes,
                int64_t run, uint8_t* dst) {
  const size_t run_bytes = static_cast<size_t>(run) * element_bytes;
  for (int r = 0; r < rows; ++r) {
    const uint8_t* src = first_row + r * src_row_bytes;
    for (int64_t k = 0; k < cols; k += run)
      std::memcpy(dst + (static_cast<size_t>(k / run) * kGroupRows + r) * run_bytes, src + k * element_bytes,
                  run_bytes);
  }
}

// Whether F32 bits `u` are a half's value: zero, an infinity, or a magnitude in the half range whose mantissa
// bits below the half's spacing at that exponent (2^-10 relative for normals, 2^-24 absolute for subnormals)
// are zero. NaNs are not (their payloads would not all survive).
bool exact_in_f16(uint32_t u) {
  const uint32_t magnitude = u & 0x7FFFFFFFu;
  if (magnitude == 0 || magnitude == 0x7F800000u) return true;
  const int exponent = static_cast<int>(magnitude >> 23) - 127;
  if (exponent > 15 || exponent < -24) return false;  // also NaNs and F32 subnormals
  const int dropped_bits = 13 + std::max(0, -14 - exponent);
  return (magnitude & ((1u << dropped_bits) - 1)) == 0;
}

}  // namespace

Exact16Bit exact_16bit_types(const float* values, int64_t count) {
  Exact16Bit exact;
  constexpr int64_t kStride = 4096;  // how often a scan that has failed both types stops early
  for (int64_t first = 0; first < count && (exact.f16 || exact.bf16); first += kStride) {
    bool f16 = true, bf16 = true;
    for (int64_t i = first, end = std::min(count, first + kStride); i < end; ++i) {
      const uint32_t u = std::bit_cast<uint32_t>(values[i]);
      f16 &= exact_in_f16(u);
      bf16 &= (u & 0xFFFFu) == 0;
    }
    exact.f16 &= f16, exact.bf16 &= bf16;
  }
  return exact;
}

void pack_interleaved_group_from_f32(TensorType packed_type, const uint8_t* first_row, size_t src_row_bytes,
                                     int rows, int64_t cols, uint8_t* dst) {
  thread_local std::vector<uint16_t> narrowed;
  narrowed.resize(static_cast<size_t>(rows * cols));
  for (int r = 0; r < rows; ++r) {
    const float* src = reinterpret_cast<const float*>(first_row + r * src_row_bytes);
    uint16_t* row = narrowed.data() + r * cols;
    for (int64_t k = 0; k < cols; ++k)
      row[k] = packed_type == TensorType::F16 ? fp32_to_fp16(src[k])
                                              : static_cast<uint16_t>(std::bit_cast<uint32_t>(src[k]) >> 16);
  }
  pack_interleaved_group(packed_type, reinterpret_cast<const uint8_t*>(narrowed.data()),
                         sizeof(uint16_t) * static_cast<size_t>(cols), rows, cols, dst);
}

bool interleaved_float_type(TensorType type) {
  return type == TensorType::F32 || type == TensorType::F16 || type == TensorType::BF16;
}

size_t interleaved_group_bytes(TensorType type, int64_t cols) {
  switch (type) {
    case TensorType::BF16:  // in pairs: even widths only
      return cols % 2 == 0 ? kGroupRows * row_bytes(type, cols) : 0;
    case TensorType::F32:
    case TensorType::F16:
    case TensorType::Q4_0:
    case TensorType::Q4_1:
    case TensorType::Q5_0:
    case TensorType::Q5_1:
    case TensorType::Q8_0:  // the file's 16 rows, rearranged
      return kGroupRows * row_bytes(type, cols);
    case TensorType::Q4_K:
      return static_cast<size_t>(cols / kBlockK) * kQ4KGroupBytes;
    case TensorType::Q5_K:
      return static_cast<size_t>(cols / kBlockK) * kQ5KGroupBytes;
    default:
      return 0;
  }
}

void pack_interleaved_group(TensorType type, const uint8_t* first_row, size_t src_row_bytes, int rows,
                            int64_t cols, uint8_t* dst) {
  std::memset(dst, 0, interleaved_group_bytes(type, cols));
  const int64_t nb = cols / kBlock32, nsb = cols / kBlockK;
  switch (type) {
    case TensorType::F32:
      return pack_float(first_row, src_row_bytes, rows, cols, 4, 1, dst);
    case TensorType::F16:
      return pack_float(first_row, src_row_bytes, rows, cols, 2, 1, dst);
    case TensorType::BF16:
      return pack_float(first_row, src_row_bytes, rows, cols, 2, 2, dst);
    case TensorType::Q4_0:
      return pack_block32<BlockQ4_0>(first_row, src_row_bytes, rows, nb, dst);
    case TensorType::Q4_1:
      return pack_block32<BlockQ4_1>(first_row, src_row_bytes, rows, nb, dst);
    case TensorType::Q5_0:
      return pack_block32<BlockQ5_0>(first_row, src_row_bytes, rows, nb, dst);
    case TensorType::Q5_1:
      return pack_block32<BlockQ5_1>(first_row, src_row_bytes, rows, nb, dst);
    case TensorType::Q8_0:
      return pack_block32<BlockQ8_0>(first_row, src_row_bytes, rows, nb, dst);
    case TensorType::Q4_K:
      return pack_k4<BlockQ4_K>(first_row, src_row_bytes, rows, nsb, kQ4KGroupBytes, dst);
    case TensorType::Q5_K:
      return pack_k4<BlockQ5_K>(first_row, src_row_bytes, rows, nsb, kQ5KGroupBytes, dst);
    default:
      return;
  }
}

}  // namespace llamascope::simd
