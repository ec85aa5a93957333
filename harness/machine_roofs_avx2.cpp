// AVX2 loops for the machine's roofs (see machine_roofs_isa.h).
#include <immintrin.h>

#include "harness/machine_roofs_isa.h"

namespace llamascope::roofs {

uint64_t read_avx2(const void* data, size_t bytes, int passes) {
  const __m256i s = xor_read<8>(
      data, bytes, passes, _mm256_setzero_si256(),
      [](__m256i acc, const __m256i* p) { return _mm256_xor_si256(acc, _mm256_load_si256(p)); },
      [](__m256i a, __m256i b) { return _mm256_xor_si256(a, b); });
  return static_cast<uint64_t>(_mm256_extract_epi64(s, 0) ^ _mm256_extract_epi64(s, 3));
}

double int8_maddubs_avx2(int64_t iterations) {
  constexpr int kChains = 6;  // 6 accumulators + 6 operands + 2 constants fit the 16 ymm registers
  __m256i acc[kChains], b[kChains];
  __m256i a = _mm256_set1_epi8(3);
  const __m256i ones = _mm256_set1_epi16(1);
  for (int i = 0; i < kChains; ++i)
    acc[i] = _mm256_setzero_si256(), b[i] = _mm256_set1_epi8(static_cast<char>(i + 1));
  return chain_rate(
      iterations, acc, 32.0 * 2,
      [&](__m256i x, int i) {
        asm volatile("" : "+x"(a));  // the products depend on the loop: nothing can be hoisted
        return _mm256_add_epi32(x, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b[i]), ones));
      },
      [](__m256i x, __m256i y) { return _mm256_add_epi32(x, y); },
      [](__m256i x) { return _mm256_extract_epi32(x, 0); });
}

// FP32 FMA throughput of one thread.
double fma_avx2(int64_t iterations) {
  __m256 acc[10];
  for (int i = 0; i < 10; ++i) acc[i] = _mm256_set1_ps(0.001f * i);
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  return chain_rate(
      iterations, acc, 8.0 * 2, [&](__m256 x, int) { return _mm256_fmadd_ps(x, a, b); },
      [](__m256 x, __m256 y) { return _mm256_add_ps(x, y); }, [](__m256 x) { return _mm256_cvtss_f32(x); });
}

}  // namespace llamascope::roofs
