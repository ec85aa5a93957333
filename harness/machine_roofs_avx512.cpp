// AVX-512 loops for the machine's roofs (see machine_roofs_isa.h).
#include <immintrin.h>

#include "harness/machine_roofs_isa.h"

namespace llamascope::roofs {

namespace {

// Lane 0 of a vector: the lanes' signed sum (_mm512_reduce_add_*) can overflow, which is undefined.
template <typename T>
T first_lane(__m512i v) {
  alignas(64) T lanes[64 / sizeof(T)];
  _mm512_store_si512(lanes, v);
  return lanes[0];
}

}  // namespace

uint64_t read_avx512(const void* data, size_t bytes, int passes) {
  const __m512i s = xor_read<4>(
      data, bytes, passes, _mm512_setzero_si512(),
      [](__m512i acc, const __m512i* p) { return _mm512_xor_si512(acc, _mm512_load_si512(p)); },
      [](__m512i a, __m512i b) { return _mm512_xor_si512(a, b); });
  return first_lane<uint64_t>(s);
}

double int8_vnni_avx512(int64_t iterations) {
  __m512i acc[12];
  const __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(5);
  for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_epi32(i);
  return chain_rate(
      iterations, acc, 64.0 * 2, [&](__m512i x, int) { return _mm512_dpbusd_epi32(x, a, b); },
      [](__m512i x, __m512i y) { return _mm512_add_epi32(x, y); },
      [](__m512i x) { return first_lane<int32_t>(x); });
}

__attribute__((target("avx512bf16"))) double bf16_dot_avx512(int64_t iterations) {
  __m512 acc[12];
  const __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(0.5f), _mm512_set1_ps(0.25f));
  const __m512bh b = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-6f), _mm512_set1_ps(1e-7f));
  for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_ps(0.001f * i);
  // Written out, not through chain_rate: a lambda would not inherit this function's target attribute.
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t it = 0; it < iterations; ++it)
    for (int i = 0; i < 12; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  __m512 sum = acc[0];
  for (int i = 1; i < 12; ++i) sum = _mm512_add_ps(sum, acc[i]);
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, sum);
  if (lanes[0] == 42.0f) std::fprintf(stderr, " ");
  return iterations * 12 * 32.0 * 2 / s;
}

// FP32 FMA throughput of one thread.
double fma_avx512(int64_t iterations) {
  __m512 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_ps(0.001f * i);
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  return chain_rate(
      iterations, acc, 16.0 * 2, [&](__m512 x, int) { return _mm512_fmadd_ps(x, a, b); },
      [](__m512 x, __m512 y) { return _mm512_add_ps(x, y); }, [](__m512 x) { return _mm512_cvtss_f32(x); });
}

}  // namespace llamascope::roofs
