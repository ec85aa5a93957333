// Portable kernels (baseline x86-64 or any CPU): plain loops the compiler may vectorize with SSE2. Every
// weight type goes through the backend's dequantize-a-row path with float activations, so this path has
// no activation quantization error at all.
#include <cmath>

#include "kernels/simd/simd_kernels.h"

namespace llamascope::simd {
namespace {

constexpr int kLanes = 8;  // independent partial sums: lets the compiler vectorize and keeps a fixed order

float dot_f32(const float* a, const float* b, int64_t n) {
  float partial[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) partial[l] += a[i + l] * b[i + l];
  float sum = 0;
  for (int l = 0; l < kLanes; ++l) sum += partial[l];
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

float dot_f32_row(const void* w, const void* x, int64_t n) {
  return dot_f32(static_cast<const float*>(w), static_cast<const float*>(x), n);
}

TypeKernel kernel_for(TensorType type) {
  if (type == TensorType::F32) return {ActivationFormat::f32, dot_f32_row};
  return {ActivationFormat::f32, nullptr};
}

void axpy(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

void scale(float a, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] *= a;
}

float sum_squares(const float* x, int64_t n) {
  return dot_f32(x, x, n);
}

void scale_mul(const float* x, float s, const float* gain, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * s * gain[i];
}

float exp_shifted(float* x, float max, int64_t n) {
  float sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += x[i] = std::exp(x[i] - max);
  return sum;
}

float max_of(const float* x, int64_t n) {
  float m = -INFINITY;
  for (int64_t i = 0; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

void swiglu(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void add(float* acc, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) acc[i] += x[i];
}

}  // namespace

const SimdKernels& portable_kernels() {
  static const SimdKernels kernels = [] {
    SimdKernels k;
    k.isa = "portable";
    k.kernel_for = kernel_for;
    k.dot_f32 = dot_f32;
    k.axpy = axpy;
    k.scale = scale;
    k.sum_squares = sum_squares;
    k.scale_mul = scale_mul;
    k.exp_shifted = exp_shifted;
    k.max = max_of;
    k.swiglu = swiglu;
    k.add = add;
    return k;
  }();
  return kernels;
}

}  // namespace llamascope::simd
