// AVX2 loops for the machine's roofs (see machine_roofs_isa.h).
#include <immintrin.h>

#include <chrono>
#include <cstdio>

#include "harness/machine_roofs_isa.h"

namespace llamascope::roofs {

uint64_t read_avx2(const void* data, size_t bytes, int passes) {
  const __m256i* p = static_cast<const __m256i*>(data);
  const size_t n = bytes / sizeof(__m256i);
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  for (int pass = 0; pass < passes; ++pass)
    for (size_t i = 0; i + 8 <= n; i += 8) {
      a0 = _mm256_xor_si256(a0, _mm256_load_si256(p + i));
      a1 = _mm256_xor_si256(a1, _mm256_load_si256(p + i + 1));
      a2 = _mm256_xor_si256(a2, _mm256_load_si256(p + i + 2));
      a3 = _mm256_xor_si256(a3, _mm256_load_si256(p + i + 3));
      a0 = _mm256_xor_si256(a0, _mm256_load_si256(p + i + 4));
      a1 = _mm256_xor_si256(a1, _mm256_load_si256(p + i + 5));
      a2 = _mm256_xor_si256(a2, _mm256_load_si256(p + i + 6));
      a3 = _mm256_xor_si256(a3, _mm256_load_si256(p + i + 7));
    }
  const __m256i s = _mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3));
  return static_cast<uint64_t>(_mm256_extract_epi64(s, 0) ^ _mm256_extract_epi64(s, 3));
}

double int8_maddubs_avx2(int64_t iterations) {
  constexpr int kChains = 6;  // 6 accumulators + 6 operands + 2 constants fit the 16 ymm registers
  __m256i acc[kChains], b[kChains];
  __m256i a = _mm256_set1_epi8(3);
  const __m256i ones = _mm256_set1_epi16(1);
  for (int i = 0; i < kChains; ++i)
    acc[i] = _mm256_setzero_si256(), b[i] = _mm256_set1_epi8(static_cast<char>(i + 1));
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t it = 0; it < iterations; ++it) {
    asm volatile("" : "+x"(a));  // the products depend on the loop: nothing can be hoisted
    for (int i = 0; i < kChains; ++i)
      acc[i] = _mm256_add_epi32(acc[i], _mm256_madd_epi16(_mm256_maddubs_epi16(a, b[i]), ones));
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  __m256i sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = _mm256_add_epi32(sum, acc[i]);
  if (_mm256_extract_epi32(sum, 0) == 42) std::fprintf(stderr, " ");
  return iterations * kChains * 32.0 * 2 / s;
}

}  // namespace llamascope::roofs
