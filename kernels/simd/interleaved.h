// Row-interleaved weights for the group matmul kernels (AVX-512 VNNI and AVX2 for Q4_0, Q4_1, Q5_0, Q5_1,
// Q8_0, Q4_K and Q5_K; AVX2 and AVX-512 for F32, F16 and BF16), made by SimdBackend::prepare().
//
// Why: a row-at-a-time integer dot product spends most of its instructions on per-block bookkeeping (unpack,
// sign fix-up, int-to-float, scale) for 32 multiply-adds. Interleaving 16 rows so that one 512-bit vector
// holds 4 consecutive weight bytes of each of the 16 rows lets one VPDPBUSD do 64 multiply-adds against 4
// activation bytes broadcast to all lanes, and puts row r's dot product in lane r: the per-block float work
// is then shared by 16 rows, and in prefill each unpacked weight vector is reused for several activation
// rows. Same idea as llama.cpp's "repacked" Q4_0x8 CPU buffers; the layouts below are our own.
//
// A group holds rows [16 g, 16 g + 16) (rows past the matrix end are zeros) and is stored contiguously.
// Within it, every unit (a chunk of blocks, a super-block) puts its scales before its codes, so that the
// kernel reads the group front to back as one sequential stream (docs/kernels.md, Matmul, has the
// measurements behind this and behind leaving Q6_K out).
//   Q4_0  blocks of 32 in chunks of 8 blocks: d[8][16 rows] (fp16), then qs[8][4][16 rows][4 bytes] (row
//         bytes 4k..4k+3: low nibbles = elements 4k..4k+3, high nibbles = 16+4k..); the last chunk may hold
//         fewer blocks. 18 bytes/row/block, as Q4_0.
//   Q8_0  as Q4_0 with qs[8][8][16][4], each byte XOR 0x80 (q + 128, unsigned for VPDPBUSD).
//         34 bytes/row/block.
//   Q5_0  as Q4_0, each block's codes followed by qh[16 rows][4 bytes] (the fifth bits, as in the file).
//         22 bytes/row/block, as Q5_0.
//   Q4_1, Q5_1  as Q4_0 and Q5_0, each block's codes (and qh) followed by m[16 rows] (fp16). 20 and 24
//         bytes/row/block, as the file.
//   Q4_K  per super-block: scale[8][16], min[8][16] (6-bit values unpacked to bytes), d[16], dmin[16]
//         (fp16), then qs[32][16][4] (dword k of the row's 128 qs bytes). 148 bytes/row/super-block (Q4_K:
//         144).
//   Q5_K  as Q4_K, then qh[8][16][4] (dword k of the row's 32 qh bytes: bit s of byte l is the fifth bit of
//         element l of sub-block s, so code vector k of every chunk takes its bits from qh vector k % 8).
//         180 bytes/row/super-block (Q5_K: 176).
//   Q6_K is not interleaved: unpacking its 6-bit codes to bytes made the copy 31% larger than the file, and
//         rebuilding them in the kernel from a file-sized layout made decode compute bound (docs/kernels.md);
//         the row kernels read the file as fast.
//   F32 / F16  element k of the 16 rows side by side: [cols][16] in the file's element type, so the copy is
//         the file's size. Each output is one fused multiply-add chain over k in order, the same in the AVX2
//         and AVX-512 kernels and for any batch of activation rows.
//   BF16  elements k and k + 1 of each row side by side: [cols / 2][16][2] (even cols only), so that one
//         32-bit lane holds a row's pair, as VDPBF16PS reads it; the FMA kernels split the pair and keep the
//         F32 / F16 order. With AVX512-BF16 the kernel rounds the activations to BF16 (as llama.cpp does for
//         BF16 weights) and takes VDPBF16PS pair dot products (interleaved_bf16dot_group_avx512).
// The activation offsets this needs (Q4_0's -8, Q8_0's +128, the K-quants' mins) are applied through
// the activation block sums, so every integer sum is exact and a row's result does not depend on how many
// activation rows are processed together or how rows are split between threads.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "base/tensor_type.h"
#include "kernels/simd/simd_kernels.h"

namespace llamascope::simd {

constexpr int kGroupRows = 16;

// Byte offsets within one Q4_K super-block of a group.
constexpr size_t kQ4KScales = 0, kQ4KMins = 8 * kGroupRows, kQ4KD = 16 * kGroupRows,
                 kQ4KDmin = kQ4KD + 2 * kGroupRows, kQ4KCodes = kQ4KDmin + 2 * kGroupRows,
                 kQ4KGroupBytes = kQ4KCodes + 128 * kGroupRows;
static_assert(kQ4KCodes % 64 == 0 && kQ4KGroupBytes % 64 == 0);
// Q5_K: the Q4_K super-block, then the fifth bits.
constexpr size_t kQ5KHighBits = kQ4KGroupBytes, kQ5KGroupBytes = kQ5KHighBits + 32 * kGroupRows;

// Where block b of a Q4_0 / Q4_1 / Q5_0 / Q5_1 / Q8_0 group (nb blocks, code_bytes = block32_code_bytes per
// block) keeps its 16 fp16 scales and its codes: chunks of 8 blocks, each scales first, then codes.
constexpr int64_t kChunkBlocks = 8;
// Code bytes of one block of a group: all of the 16 rows' block but the fp16 scale d: qs, then qh (Q5_0,
// Q5_1), then m (Q4_1, Q5_1), at the offsets below.
template <typename Block>
constexpr size_t block32_code_bytes() {
  return (sizeof(Block) - sizeof(uint16_t)) * kGroupRows;
}
template <typename Block>
constexpr bool kHasQh = requires {
  Block::qh;
};
template <typename Block>
constexpr bool kHasMin = requires {
  Block::m;
};
template <typename Block>
constexpr size_t kQhOffset = sizeof(Block::qs) * kGroupRows;
template <typename Block>
constexpr size_t kMinOffset = kQhOffset<Block> + (kHasQh<Block> ? 4 * kGroupRows : 0);
inline size_t block32_chunk_offset(int64_t b, size_t code_bytes) {
  return static_cast<size_t>(b / kChunkBlocks) * kChunkBlocks * (code_bytes + 2 * kGroupRows);
}
inline size_t block32_scales_offset(int64_t b, size_t code_bytes) {
  return block32_chunk_offset(b, code_bytes) + static_cast<size_t>(b % kChunkBlocks) * 2 * kGroupRows;
}
inline size_t block32_codes_offset(int64_t b, int64_t nb, size_t code_bytes) {
  const int64_t chunk_first = b / kChunkBlocks * kChunkBlocks;
  const int64_t blocks_in_chunk = nb - chunk_first < kChunkBlocks ? nb - chunk_first : kChunkBlocks;
  return block32_chunk_offset(b, code_bytes) + static_cast<size_t>(blocks_in_chunk) * 2 * kGroupRows +
         static_cast<size_t>(b % kChunkBlocks) * code_bytes;
}

// Walks the nb blocks of a block-32 group in storage order, calling block(b, scales, codes) with
// block b's 16 fp16 scales and its kCodeBytes of codes.
template <size_t kCodeBytes, typename Block>
inline void for_each_block32(const uint8_t* group, int64_t nb, Block block) {
  const uint8_t* chunk = group;
  for (int64_t first = 0; first < nb; first += kChunkBlocks) {
    const int blocks = static_cast<int>(std::min<int64_t>(kChunkBlocks, nb - first));
    const uint16_t* scales = reinterpret_cast<const uint16_t*>(chunk);
    const uint8_t* codes = chunk + blocks * 2 * kGroupRows;
    prefetch_ahead(chunk, codes - chunk);
    for (int i = 0; i < blocks; ++i, codes += kCodeBytes) {
      prefetch_ahead(codes, kCodeBytes);
      block(first + i, scales + i * kGroupRows, codes);
    }
    chunk = codes;
  }
}

// Bytes of one element of a float weight type in the interleaved layout (F32: 4, F16 and BF16: 2).
template <TensorType kType>
constexpr size_t kElementBytes = kType == TensorType::F32 ? 4 : 2;

// Bytes of one packed group of 16 rows of `cols` columns; 0 when `type` has no interleaved kernel.
size_t interleaved_group_bytes(TensorType type, int64_t cols);

// Packs rows [first_row, first_row + rows_in_group) of a weight whose rows are `src_row_bytes` apart into
// one group at dst (interleaved_group_bytes(type, cols) bytes); rows_in_group < 16 pads with zero rows.
void pack_interleaved_group(TensorType type, const uint8_t* first_row, size_t src_row_bytes,
                            int rows_in_group, int64_t cols, uint8_t* dst);

// Which 16-bit float types hold every one of `count` F32 values exactly (the value widened back is the same
// bits). F32 files converted from an F16 or BF16 model hold only such values: their weights are then packed
// in 16 bits (pack_interleaved_group_from_f32) and run through the F16 / BF16 multiply-add kernels, whose
// chains are the F32 kernel's, so the results are the same bits from half the bytes.
struct Exact16Bit {
  bool f16 = true;
  bool bf16 = true;
};
Exact16Bit exact_16bit_types(const float* values, int64_t count);

// pack_interleaved_group for F32 rows stored as `packed_type` (F16 or BF16): every value must be exact in
// that type (exact_16bit_types).
void pack_interleaved_group_from_f32(TensorType packed_type, const uint8_t* first_row, size_t src_row_bytes,
                                     int rows_in_group, int64_t cols, uint8_t* dst);

// out[i * out_stride + r] = dot(row r of the group, activation row i) for i < n and r < rows_in_group.
// Activations are quantized as the type's ActivationFormat (ActBlock32 with sums for Q4_0/Q5_0/Q8_0,
// BlockQ8_K for the K-quants), `activation_stride` bytes apart. Compiled for AVX-512 VNNI: call only where
// the CPU has it.
void interleaved_matmul_group_avx512(TensorType type, const uint8_t* group, int64_t cols,
                                     const uint8_t* activations, size_t activation_stride, int64_t n,
                                     float* out, int64_t out_stride, int rows_in_group);

// The same, with Q5_K's fifth bits unpacked by GFNI (call only where the CPU has AVX-512 VNNI and GFNI); the
// results are bit for bit those of interleaved_matmul_group_avx512.
void interleaved_matmul_group_avx512_gfni(TensorType type, const uint8_t* group, int64_t cols,
                                          const uint8_t* activations, size_t activation_stride, int64_t n,
                                          float* out, int64_t out_stride, int rows_in_group);

// The same for AVX2 + FMA + F16C, for the types interleaved_avx2_has(); other types are left untouched.
bool interleaved_avx2_has(TensorType type);
void interleaved_matmul_group_avx2(TensorType type, const uint8_t* group, int64_t cols,
                                   const uint8_t* activations, size_t activation_stride, int64_t n,
                                   float* out, int64_t out_stride, int rows_in_group);

// F32, F16 and BF16 weights: interleaved as above and multiplied by float activations (rows of floats,
// `activation_stride` bytes apart). interleaved_float_type() says which types these kernels take. The AVX-512
// ones (float and BF16 dot) also take rows_in_group up to 32: the group at `group` and the one after it.
bool interleaved_float_type(TensorType type);
// f.template operator()<T>() for T = type when it is F32, F16 or BF16 (nothing for other types): how each
// float kernel instantiates itself per element type.
template <typename F>
inline void visit_float_type(TensorType type, F&& f) {
  switch (type) {
    case TensorType::F32:
      return f.template operator()<TensorType::F32>();
    case TensorType::F16:
      return f.template operator()<TensorType::F16>();
    case TensorType::BF16:
      return f.template operator()<TensorType::BF16>();
    default:
      return;
  }
}
void interleaved_float_group_avx2(TensorType type, const uint8_t* group, int64_t cols,
                                  const uint8_t* activations, size_t activation_stride, int64_t n, float* out,
                                  int64_t out_stride, int rows_in_group);
void interleaved_float_group_avx512(TensorType type, const uint8_t* group, int64_t cols,
                                    const uint8_t* activations, size_t activation_stride, int64_t n,
                                    float* out, int64_t out_stride, int rows_in_group);
// BF16 weights with AVX512-BF16 (call only where the CPU has it): pair products summed by VDPBF16PS against
// activations rounded by round_to_bf16_pairs (ActivationFormat::bf16_pairs).
void interleaved_bf16dot_group_avx512(TensorType type, const uint8_t* group, int64_t cols,
                                      const uint8_t* activations, size_t activation_stride, int64_t n,
                                      float* out, int64_t out_stride, int rows_in_group);
// x[0..cols) rounded to BF16 to nearest even, as cols / 2 pairs (element 2k in the low half); cols even.
void round_to_bf16_pairs(const float* x, int64_t cols, uint32_t* pairs);

}  // namespace llamascope::simd
