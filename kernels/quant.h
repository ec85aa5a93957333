// Scalar reference conversions between float32 and every tensor type: the numerics every fast kernel is
// checked against, and what `llamascope quantize` writes. Block layouts are in quant_blocks.h.
#pragma once

#include <cstdint>

#include "base/tensor_type.h"

namespace llamascope {

float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);  // round to nearest even
float bf16_to_fp32(uint16_t h);
uint16_t fp32_to_bf16(float f);  // round to nearest even, NaN kept NaN

// dst[0..n) = the values of the n elements at src. n must be a multiple of the type's block size.
void dequantize_row(TensorType type, const void* src, float* dst, int64_t n);

// Writes row_bytes(type, n) bytes at dst encoding src[0..n). `importance` (n weights, may be null) lets
// the K-quant searches weight their error, as llama.cpp's imatrix does; null means uniform.
void quantize_row(TensorType type, const float* src, void* dst, int64_t n, const float* importance = nullptr);

// Scale and min of sub-block j (0..7) of a Q4_K / Q5_K block from its 12 packed scale bytes.
void k4_scale_min(const uint8_t* scales, int j, uint8_t* scale, uint8_t* min);
// Scale j (0..15) of a Q3_K block (its 6-bit field minus 32) from its 12 packed scale bytes.
int q3_k_scale(const uint8_t* scales, int j);

// Whether quantize_row supports `type` (Q8_K and Q8_1 are activation-only formats here).
bool can_quantize_to(TensorType type);

}  // namespace llamascope
