// One translation unit of the x86 kernels, included by kernels_avx2.cpp and kernels_avx512.cpp after they
// define LLAMASCOPE_ISA_NAME ("avx2") and LLAMASCOPE_ISA_KERNELS (avx2_kernels): the bodies of
// kernels_x86.inl compiled with the including file's instruction-set flags, returned by that function.
#include <immintrin.h>

#include <cmath>
#include <type_traits>

#include "kernels/simd/simd_kernels.h"

namespace llamascope::simd {
namespace {
#include "kernels/simd/kernels_x86.inl"
constexpr SimdKernels kKernels = make_kernels(LLAMASCOPE_ISA_NAME);
}  // namespace

const SimdKernels& LLAMASCOPE_ISA_KERNELS() {
  return kKernels;
}

}  // namespace llamascope::simd
