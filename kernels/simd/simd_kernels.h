// The per-ISA kernel table behind the SIMD backend. simd_backend.cpp (baseline x86-64) owns threading,
// activation quantization order and the loops over rows; it calls only through a `SimdKernels` table, which
// each ISA file (kernels_portable.cpp, kernels_avx2.cpp, kernels_avx512.cpp) fills with code compiled for
// its instruction set. Nothing else in those files is visible, so no inline code compiled for AVX2 can
// leak into the portable path through the linker.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/tensor_type.h"
#include "kernels/quant_blocks.h"

namespace llamascope::simd {

// How far ahead of the bytes a matmul kernel is reading it asks for its weight stream: the hardware
// prefetchers alone left decode waiting on memory (docs/kernels.md, "Software prefetch"). Prefetches past the
// end of a weight are harmless hints.
constexpr size_t kPrefetchAhead = 4096;
// Asks for the cache lines of [p + kPrefetchAhead, p + kPrefetchAhead + bytes). Internal linkage: each ISA's
// file keeps its own copy (see above).
static inline void prefetch_ahead(const void* p, size_t bytes) {
  for (size_t line = 0; line < bytes; line += 64)
    __builtin_prefetch(static_cast<const uint8_t*>(p) + kPrefetchAhead + line, 0, 3);
}
// The same for blocks [b, b + count) of a row of file blocks (the row kernels).
template <typename Block>
static inline void prefetch_blocks_ahead(const void* row, int64_t b, int64_t count = 1) {
  prefetch_ahead(static_cast<const Block*>(row) + b, count * sizeof(Block));
}

// Activations quantized for Q8_0 / Q4_0 weights: like BlockQ8_0 but with a float scale, so the only
// activation error is the int8 rounding (a half scale would add a 2^-12 relative error per block).
// `minus8_sum` (-8 * the sum of qs) lets the interleaved kernels use unsigned weight codes: Q4_0 stores
// q + 8, so sum(w * x) = sum(code * x) - 8 * sum(x), and the accumulator starts from this value.
struct ActBlock32 {
  float d;
  int32_t minus8_sum;
  int8_t qs[kBlock32];
};

// How a matmul's activations are presented to a row dot product.
enum class ActivationFormat {
  f32,         // the float row as given
  q8_32,       // ActBlock32 blocks, for Q8_0 and Q4_0 weights
  q8_k,        // super-blocks of 256 int8 with a float scale and sums of 16 (BlockQ8_K), for K-quant weights
  bf16_pairs,  // rounded to BF16, elements 2k and 2k + 1 in one 32-bit word: the AVX512-BF16 group kernel's
};

// dot of one weight row (`cols` elements, in the weight's own format) with one activation row (in the
// format the type asks for). Each call sums in one fixed order, whatever the caller's batching, so a
// (weight row, activation row) pair always gives the same bits.
using RowDot = float (*)(const void* weight_row, const void* activation_row, int64_t cols);

// The same for four activation rows at once (out[j] = dot with x[j]), giving bit for bit what four RowDot
// calls give: the weight row is unpacked once for the four.
using RowDot4 = void (*)(const void* weight_row, const void* const* activation_rows, int64_t cols,
                         float* out);

struct TypeKernel {
  ActivationFormat activation = ActivationFormat::f32;
  RowDot dot = nullptr;    // null: no direct kernel; the backend dequantizes the row and uses dot_f32
  RowDot4 dot4 = nullptr;  // null: the backend calls `dot` per activation row
};

struct SimdKernels {
  const char* isa = "";
  TypeKernel (*kernel_for)(TensorType type) = nullptr;

  // Activation quantizers (n a multiple of 32 / 256). Deterministic per row.
  void (*quantize_q8_32)(const float* x, ActBlock32* out, int64_t n) = nullptr;
  void (*quantize_q8_k)(const float* x, BlockQ8_K* out, int64_t n) = nullptr;

  float (*dot_f32)(const float* a, const float* b, int64_t n) = nullptr;
  // y += a * x
  void (*axpy)(float a, const float* x, float* y, int64_t n) = nullptr;
  // y *= a
  void (*scale)(float a, float* y, int64_t n) = nullptr;
  float (*sum_squares)(const float* x, int64_t n) = nullptr;
  // out = x * scale * gain
  void (*scale_mul)(const float* x, float scale, const float* gain, float* out, int64_t n) = nullptr;
  // x = exp(x - max) in place; returns the sum of the results.
  float (*exp_shifted)(float* x, float max, int64_t n) = nullptr;
  float (*max)(const float* x, int64_t n) = nullptr;
  // out = silu(gate) * up; out may alias gate.
  void (*swiglu)(const float* gate, const float* up, float* out, int64_t n) = nullptr;
  void (*add)(float* acc, const float* x, int64_t n) = nullptr;
  // One head of causal attention for one query row: out = softmax(scale * K q) V over n_keys cache rows;
  // scores: n_keys floats of scratch. Null: the backend composes it from the kernels above.
  void (*attend_head)(const float* q, const float* k, int64_t k_stride, const float* v, int64_t v_stride,
                      int64_t n_keys, int head_dim, float scale, float* scores, float* out) = nullptr;
};

const SimdKernels& portable_kernels();
const SimdKernels& avx2_kernels();
const SimdKernels& avx512_kernels();

}  // namespace llamascope::simd
