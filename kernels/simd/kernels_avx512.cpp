// The AVX-512 (F/BW/VL/DQ) kernels: the AVX2 bodies of kernels_x86.inl compiled for AVX-512, with 512-bit
// float dot products. Chosen only where the CPU has AVX-512; not exercised on CPUs without it.
#include <immintrin.h>

#include <cmath>

#include "kernels/simd/simd_kernels.h"

namespace llamascope::simd {
namespace {
#include "kernels/simd/kernels_x86.inl"
constexpr SimdKernels kAvx512 = make_kernels("avx512");
}  // namespace

const SimdKernels& avx512_kernels() {
  return kAvx512;
}

}  // namespace llamascope::simd
