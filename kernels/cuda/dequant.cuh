// Device-side dequantization of every weight type, 32 elements at a time, in registers: the one place
// where the CUDA kernels read GGUF block layouts (kernels/quant_blocks.h; the scalar reference is
// kernels/quant.cpp). A "chunk" is 32 consecutive elements of a row: one block of the 32-element types,
// one eighth of a K-quant super-block, 32 floats of F32/F16/BF16 rows. Every kernel that reads weights
// (matrix-vector products, dequantize-to-F16 tiles, embedding rows) is a loop over chunks calling
// dequant_chunk<type>, so a type's layout is written once.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <cstring>

#include "base/tensor_type.h"
#include "kernels/quant_blocks.h"

namespace llamascope::cuda {

// Everything here is __host__ __device__: dequantize_row_host (device.cu) runs the same code on the CPU,
// so a unit test checks every layout against the scalar reference on machines without a GPU.
#define LLAMASCOPE_HD __host__ __device__ __forceinline__

LLAMASCOPE_HD float bits_to_float(uint32_t u) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}
LLAMASCOPE_HD float half_to_float(uint16_t h) {
  __half_raw raw;
  raw.x = h;
  return __half2float(__half(raw));
}
// Unaligned-safe little-endian loads from 2-byte aligned block fields.
LLAMASCOPE_HD uint32_t load_u32_a2(const uint8_t* p) {
  const uint16_t* q = reinterpret_cast<const uint16_t*>(p);
  return static_cast<uint32_t>(q[0]) | static_cast<uint32_t>(q[1]) << 16;
}
LLAMASCOPE_HD uint16_t load_u16(const uint8_t* p) {
  return *reinterpret_cast<const uint16_t*>(p);
}

// Bytes of one chunk's block (the unit a chunk index addresses), and chunks per block, from the type's
// geometry in base/tensor_type.h: a K-quant super-block holds 8 chunks; a float type's chunk is a block
// of its own.
template <TensorType T>
struct ChunkGeometry {
  static constexpr int64_t kBlockElems = type_info(T).block_elems < 32 ? 32 : type_info(T).block_elems;
  static constexpr int kChunksPerBlock = static_cast<int>(kBlockElems / 32);
  static constexpr int kBlockBytes =
      static_cast<int>(kBlockElems / type_info(T).block_elems * type_info(T).block_bytes);
};

// Address of chunk c of a row.
template <TensorType T>
LLAMASCOPE_HD const uint8_t* chunk_block(const uint8_t* row, int64_t c) {
  using G = ChunkGeometry<T>;
  return row + (c / G::kChunksPerBlock) * G::kBlockBytes;
}

LLAMASCOPE_HD void k4_scale_min(const uint8_t* s, int j, float& sc, float& m) {
  if (j < 4) {
    sc = static_cast<float>(s[j] & 63);
    m = static_cast<float>(s[j + 4] & 63);
  } else {
    sc = static_cast<float>((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
    m = static_cast<float>((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
  }
}

// Aligned (Q4_1, Q5_1: blocks of 20 and 24 bytes) or 2-byte aligned 32-bit load.
template <bool kAligned4>
LLAMASCOPE_HD uint32_t load_u32(const uint8_t* p) {
  if constexpr (kAligned4)
    return *reinterpret_cast<const uint32_t*>(p);
  else
    return load_u32_a2(p);
}

// One F16 or BF16 element from its 16 bits (h < 65536).
template <TensorType T>
LLAMASCOPE_HD float widen_16bit(uint32_t h) {
  if constexpr (T == TensorType::F16)
    return half_to_float(static_cast<uint16_t>(h));
  else
    return bits_to_float(h << 16);
}

// y[0..32) = elements [32 * sub, 32 * sub + 32) of the block at b (sub = 0 for 32-element blocks).
// Written here: the 16-bit float types (16-byte loads, two elements a word) and the 32-element nibble
// types, which differ only in an fp16 min after d (Q4_1, Q5_1; else the nibbles are offset by -8, or by -16
// with a fifth bit) and a 32-bit word of fifth bits (Q5_0, Q5_1) before the 16 nibble bytes.
template <TensorType T>
LLAMASCOPE_HD void dequant_chunk(const uint8_t* b, int, float (&y)[32]) {
  if constexpr (T == TensorType::F16 || T == TensorType::BF16) {
    const uint4* p = reinterpret_cast<const uint4*>(b);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const uint4 v = p[i];
      const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        y[8 * i + 2 * j] = widen_16bit<T>(w[j] & 0xFFFF);
        y[8 * i + 2 * j + 1] = widen_16bit<T>(w[j] >> 16);
      }
    }
  } else {
    static_assert(T == TensorType::Q4_0 || T == TensorType::Q4_1 || T == TensorType::Q5_0 ||
                  T == TensorType::Q5_1);
    constexpr bool kMin = T == TensorType::Q4_1 || T == TensorType::Q5_1;
    constexpr bool kFifthBit = T == TensorType::Q5_0 || T == TensorType::Q5_1;
    constexpr int kOffset = kFifthBit ? 16 : 8;
    const float d = half_to_float(load_u16(b)), m = kMin ? half_to_float(load_u16(b + 2)) : 0.0f;
    const uint8_t* p = b + (kMin ? 4 : 2);
    const uint32_t qh = kFifthBit ? load_u32<kMin>(p) : 0;
    const uint8_t* qs = p + (kFifthBit ? 4 : 0);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const uint32_t q = load_u32<kMin>(qs + 4 * i);
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const int e = 4 * i + j;
        const uint32_t byte = (q >> (8 * j)) & 0xFF;
        const uint32_t lo = (byte & 0xF) | (((qh >> e) & 1) << 4);
        const uint32_t hi = (byte >> 4) | (((qh >> (e + 16)) & 1) << 4);
        if constexpr (kMin) {
          y[e] = static_cast<float>(lo) * d + m;
          y[e + 16] = static_cast<float>(hi) * d + m;
        } else {
          y[e] = static_cast<float>(static_cast<int>(lo) - kOffset) * d;
          y[e + 16] = static_cast<float>(static_cast<int>(hi) - kOffset) * d;
        }
      }
    }
  }
}

template <>
LLAMASCOPE_HD void dequant_chunk<TensorType::F32>(const uint8_t* b, int, float (&y)[32]) {
  const float4* p = reinterpret_cast<const float4*>(b);
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const float4 v = p[i];
    y[4 * i] = v.x;
    y[4 * i + 1] = v.y;
    y[4 * i + 2] = v.z;
    y[4 * i + 3] = v.w;
  }
}

template <>
LLAMASCOPE_HD void dequant_chunk<TensorType::Q8_0>(const uint8_t* b, int, float (&y)[32]) {
  const float d = half_to_float(load_u16(b));
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const uint32_t q = load_u32_a2(b + 2 + 4 * i);
#pragma unroll
    for (int j = 0; j < 4; ++j) y[4 * i + j] = static_cast<float>(static_cast<int8_t>(q >> (8 * j))) * d;
  }
}

// Q2_K: chunk `sub` (0..7) is half h = sub / 4 of 128, 2-bit field shift 2 * (sub % 4) of bytes
// qs[32 h .. 32 h + 32), scales 2 sub and 2 sub + 1 (one per 16 elements).
template <>
LLAMASCOPE_HD void dequant_chunk<TensorType::Q2_K>(const uint8_t* b, int sub, float (&y)[32]) {
  const auto* blk = reinterpret_cast<const BlockQ2_K*>(b);
  const float d = half_to_float(blk->d), dmin = half_to_float(blk->dmin);
  const uint8_t* q = blk->qs + 32 * (sub / 4);
  const int shift = 2 * (sub % 4);
#pragma unroll
  for (int part = 0; part < 2; ++part) {
    const uint8_t sc = blk->scales[2 * sub + part];
    const float dl = d * static_cast<float>(sc & 0xF), ml = dmin * static_cast<float>(sc >> 4);
#pragma unroll
    for (int l = 0; l < 16; ++l)
      y[16 * part + l] = dl * static_cast<float>((q[16 * part + l] >> shift) & 3) - ml;
  }
}

LLAMASCOPE_HD int q3_k_scale(const uint8_t* scales, int j) {
  const int low = j < 8 ? (scales[j] & 0xF) : (scales[j - 8] >> 4);
  const int high = (scales[8 + j % 4] >> (2 * (j / 4))) & 3;
  return (low | (high << 4)) - 32;
}

template <>
LLAMASCOPE_HD void dequant_chunk<TensorType::Q3_K>(const uint8_t* b, int sub, float (&y)[32]) {
  const auto* blk = reinterpret_cast<const BlockQ3_K*>(b);
  const float d = half_to_float(blk->d);
  const uint8_t* q = blk->qs + 32 * (sub / 4);
  const int shift = 2 * (sub % 4);
  const uint8_t hbit = static_cast<uint8_t>(1u << sub);
#pragma unroll
  for (int part = 0; part < 2; ++part) {
    const float dl = d * static_cast<float>(q3_k_scale(blk->scales, 2 * sub + part));
#pragma unroll
    for (int l = 16 * part; l < 16 * part + 16; ++l) {
      const int value = ((q[l] >> shift) & 3) - ((blk->hmask[l] & hbit) ? 0 : 4);
      y[l] = dl * static_cast<float>(value);
    }
  }
}

// Q4_K and Q5_K: chunk `sub` is sub-block sub: nibble (sub % 2) of qs[32 (sub / 2) .. + 32), for Q5_K
// with bit sub of qh[0..32) as the fifth bit.
template <TensorType T, typename Block>
LLAMASCOPE_HD void dequant_k4_chunk(const Block* blk, int sub, float (&y)[32]) {
  const float d = half_to_float(blk->d), dmin = half_to_float(blk->dmin);
  float sc, m;
  k4_scale_min(blk->scales, sub, sc, m);
  const float d1 = d * sc, m1 = dmin * m;
  const uint32_t* q = reinterpret_cast<const uint32_t*>(blk->qs + 32 * (sub / 2));
  const int shift = 4 * (sub % 2);
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const uint32_t w = q[i] >> shift;
    if constexpr (T == TensorType::Q5_K) {
      const uint32_t h = reinterpret_cast<const uint32_t*>(blk->qh)[i] >> sub;
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const uint32_t v = ((w >> (8 * j)) & 0xF) | (((h >> (8 * j)) & 1) << 4);
        y[4 * i + j] = d1 * static_cast<float>(v) - m1;
      }
    } else {
#pragma unroll
      for (int j = 0; j < 4; ++j) y[4 * i + j] = d1 * static_cast<float>((w >> (8 * j)) & 0xF) - m1;
    }
  }
}
template <>
LLAMASCOPE_HD void dequant_chunk<TensorType::Q4_K>(const uint8_t* b, int sub, float (&y)[32]) {
  dequant_k4_chunk<TensorType::Q4_K>(reinterpret_cast<const BlockQ4_K*>(b), sub, y);
}
template <>
LLAMASCOPE_HD void dequant_chunk<TensorType::Q5_K>(const uint8_t* b, int sub, float (&y)[32]) {
  dequant_k4_chunk<TensorType::Q5_K>(reinterpret_cast<const BlockQ5_K*>(b), sub, y);
}

// Q6_K: chunk `sub` lies in half h = sub / 4 of 128; within it, quarter k = sub % 4 takes ql[l + 32 (k % 2)]
// nibble (k / 2), qh[l] bits 2k..2k+1, scales 8 h + 2 k + l / 16.
template <>
LLAMASCOPE_HD void dequant_chunk<TensorType::Q6_K>(const uint8_t* b, int sub, float (&y)[32]) {
  const auto* blk = reinterpret_cast<const BlockQ6_K*>(b);
  const float d = half_to_float(blk->d);
  const int h = sub / 4, k = sub % 4;
  const uint8_t* ql = blk->ql + 64 * h + 32 * (k % 2);
  const uint8_t* qh = blk->qh + 32 * h;
  const int8_t* sc = blk->scales + 8 * h + 2 * k;
  const int lshift = 4 * (k / 2), hshift = 2 * k;
#pragma unroll
  for (int part = 0; part < 2; ++part) {
    const float dl = d * static_cast<float>(sc[part]);
#pragma unroll
    for (int l = 16 * part; l < 16 * part + 16; ++l) {
      const int q = ((ql[l] >> lshift) & 0xF) | (((qh[l] >> hshift) & 3) << 4);
      y[l] = dl * static_cast<float>(q - 32);
    }
  }
}

}  // namespace llamascope::cuda

namespace llamascope::cuda {

// Float-type rows (F32, F16, BF16) may have any length and need not be 16-byte aligned (stories260K's
// hidden width is 172): element loads for those, and for the tail past the last whole chunk.
template <TensorType T>
constexpr bool kFloatType = T == TensorType::F32 || T == TensorType::F16 || T == TensorType::BF16;

template <TensorType T>
LLAMASCOPE_HD float row_element(const uint8_t* row, int64_t i) {
  if constexpr (T == TensorType::F32) {
    return reinterpret_cast<const float*>(row)[i];
  } else if constexpr (T == TensorType::F16 || T == TensorType::BF16) {
    return widen_16bit<T>(reinterpret_cast<const uint16_t*>(row)[i]);
  } else {
    return 0.0f;  // quantized rows are whole blocks: never called
  }
}

// Chunk c of a row; `vector_loads`: the row is 16-byte aligned (always true of quantized rows' needs).
template <TensorType T>
LLAMASCOPE_HD void dequant_row_chunk(const uint8_t* row, int64_t c, bool vector_loads, float (&y)[32]) {
  if constexpr (kFloatType<T>) {
    if (!vector_loads) {
#pragma unroll
      for (int j = 0; j < 32; ++j) y[j] = row_element<T>(row, c * 32 + j);
      return;
    }
  }
  dequant_chunk<T>(chunk_block<T>(row, c), static_cast<int>(c % ChunkGeometry<T>::kChunksPerBlock), y);
}

// Whether rows starting at `data`, `row_bytes` apart, allow the 16-byte loads of dequant_chunk.
inline bool rows_allow_vector_loads(const void* data, size_t row_bytes) {
  return reinterpret_cast<uintptr_t>(data) % 16 == 0 && row_bytes % 16 == 0;
}

}  // namespace llamascope::cuda
