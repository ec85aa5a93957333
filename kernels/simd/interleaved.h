// Row-interleaved weights for the AVX-512 VNNI matmul kernels, made by SimdBackend::prepare().
//
// Why: a row-at-a-time integer dot product spends most of its instructions on per-block bookkeeping (unpack,
// sign fix-up, int-to-float, scale) for 32 multiply-adds. Interleaving 16 rows so that one 512-bit vector
// holds 4 consecutive weight bytes of each of the 16 rows lets one VPDPBUSD do 64 multiply-adds against 4
// activation bytes broadcast to all lanes, and puts row r's dot product in lane r: the per-block float work
// is then shared by 16 rows, and in prefill each unpacked weight vector is reused for several activation
// rows. Same idea as llama.cpp's "repacked" Q4_0x8 CPU buffers; the layouts below are our own.
//
// A group holds rows [16 g, 16 g + 16) (rows past the matrix end are zeros) and is stored contiguously:
//   Q4_0  per block of 32:  qs[4][16 rows][4 bytes] (row bytes 4k..4k+3; low nibbles = elements 4k..4k+3,
//         high nibbles = 16+4k..), then after all blocks: d[blocks][16] (fp16).   18 bytes/row/block, as
//         Q4_0.
//   Q8_0  per block of 32:  qs[8][16][4] with each byte XOR 0x80 (q + 128, unsigned for VPDPBUSD), then
//         d[blocks][16] (fp16).                                                   34 bytes/row/block, as
//         Q8_0.
//   Q4_K  per super-block:  qs[32][16][4] (dword k of the row's 128 qs bytes), scale[8][16], min[8][16]
//         (6-bit values unpacked to bytes), d[16], dmin[16] (fp16).               148 bytes/row/super-block.
//   Q6_K  per super-block:  ql[32][16][4], qh[16][16][4], scales[8][16][2] (int8, sub-blocks 2p and 2p + 1
//         side by side), d[16] (fp16).                                         210 bytes/row/super-block, as
//         Q6_K.
// The activation offsets this needs (Q4_0's -8, Q8_0's +128, Q6_K's -32, Q4_K's mins) are applied through
// the activation block sums, so every integer sum is exact and a row's result does not depend on how many
// activation rows are processed together or how rows are split between threads.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/tensor_type.h"

namespace llamascope::simd {

constexpr int kGroupRows = 16;

// Bytes of one packed group of 16 rows of `cols` columns; 0 when `type` has no interleaved kernel.
size_t interleaved_group_bytes(TensorType type, int64_t cols);

// Packs rows [first_row, first_row + rows_in_group) of a weight whose rows are `src_row_bytes` apart into
// one group at dst (interleaved_group_bytes(type, cols) bytes); rows_in_group < 16 pads with zero rows.
void pack_interleaved_group(TensorType type, const uint8_t* first_row, size_t src_row_bytes,
                            int rows_in_group, int64_t cols, uint8_t* dst);

// out[i * out_stride + r] = dot(row r of the group, activation row i) for i < n and r < rows_in_group.
// Activations are quantized as the type's ActivationFormat (ActBlock32 with sums for Q4_0/Q8_0, BlockQ8_K for
// the K-quants), `activation_stride` bytes apart. Compiled for AVX-512 VNNI: call only where the CPU has it.
void interleaved_matmul_group_avx512(TensorType type, const uint8_t* group, int64_t cols,
                                     const uint8_t* activations, size_t activation_stride, int64_t n,
                                     float* out, int64_t out_stride, int rows_in_group);

}  // namespace llamascope::simd
