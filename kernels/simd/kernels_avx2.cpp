// The AVX2 + FMA + F16C kernels (CMake compiles *_avx2.cpp with those flags); the backend calls them only
// after checking the CPU. Bodies in kernels_x86.inl.
#include <immintrin.h>

#include <cmath>

#include "kernels/simd/simd_kernels.h"

namespace llamascope::simd {
namespace {
#include "kernels/simd/kernels_x86.inl"
constexpr SimdKernels kAvx2 = make_kernels("avx2");
}  // namespace

const SimdKernels& avx2_kernels() {
  return kAvx2;
}

}  // namespace llamascope::simd
