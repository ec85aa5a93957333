// The microbenchmarks behind this machine's limits: a multi-threaded memory read and FP32 FMA loops (the
// x86 vector forms are compiled only on x86; elsewhere the scalar loop stands in).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "harness/environment.h"

namespace llamascope {

// Sums a buffer with `threads` threads, each reading its own contiguous share; returns bytes/s of the
// fastest of `runs` passes (the first pass after allocation also faults the pages in, so it is dropped).
double measure_read_bandwidth(size_t bytes, int threads, int runs) {
  const size_t n = bytes / sizeof(uint64_t);
  std::unique_ptr<uint64_t[]> buffer(new uint64_t[n]);
  // Touch every page from the thread that will read it, so first-touch NUMA placement matches the reads.
  auto for_each_share = [&](auto&& fn) {
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
      workers.emplace_back([&, t] {
        const size_t begin = n * t / threads, end = n * (t + 1) / threads;
        fn(begin, end);
      });
    for (auto& w : workers) w.join();
  };
  for_each_share([&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) buffer[i] = i;
  });
  std::atomic<uint64_t> sink{0};
  double best = 0;
  for (int r = 0; r < runs; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for_each_share([&](size_t begin, size_t end) {
      // Four independent sums keep the loop bound by memory, not by the add latency.
      uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      size_t i = begin;
      for (; i + 4 <= end; i += 4)
        s0 += buffer[i], s1 += buffer[i + 1], s2 += buffer[i + 2], s3 += buffer[i + 3];
      for (; i < end; ++i) s0 += buffer[i];
      sink += s0 + s1 + s2 + s3;
    });
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, static_cast<double>(n * sizeof(uint64_t)) / s);
  }
  if (sink.load() == 42) std::fprintf(stderr, " ");  // keeps the sums observable
  return best;
}

namespace {

#if defined(__x86_64__) || defined(__i386__)
// FP32 FMA throughput of one thread: independent accumulator chains so the loop is throughput-bound.
__attribute__((target("avx2,fma"))) double fma_flops_avx2(int64_t iterations) {
  __m256 acc[10];
  for (int i = 0; i < 10; ++i) acc[i] = _mm256_set1_ps(0.001f * i);
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t it = 0; it < iterations; ++it)
    for (int i = 0; i < 10; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  __m256 sum = acc[0];
  for (int i = 1; i < 10; ++i) sum = _mm256_add_ps(sum, acc[i]);
  alignas(32) float out[8];
  _mm256_store_ps(out, sum);
  if (out[0] == 42.0f) std::fprintf(stderr, " ");
  return iterations * 10.0 * 8 * 2 / s;
}

__attribute__((target("avx512f"))) double fma_flops_avx512(int64_t iterations) {
  __m512 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_ps(0.001f * i);
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t it = 0; it < iterations; ++it)
    for (int i = 0; i < 12; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  __m512 sum = acc[0];
  for (int i = 1; i < 12; ++i) sum = _mm512_add_ps(sum, acc[i]);
  alignas(64) float out[16];
  _mm512_store_ps(out, sum);
  if (out[0] == 42.0f) std::fprintf(stderr, " ");
  return iterations * 12.0 * 16 * 2 / s;
}

#endif

double fma_flops_scalar(int64_t iterations) {
  float acc[8];
  for (int i = 0; i < 8; ++i) acc[i] = 0.001f * i;
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t it = 0; it < iterations; ++it)
    for (int i = 0; i < 8; ++i) acc[i] = acc[i] * 0.999999f + 1e-7f;
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (acc[0] + acc[7] == 42.0f) std::fprintf(stderr, " ");
  return iterations * 8.0 * 2 / s;
}

// The FMA loop this CPU runs fastest, best of three.
double best_thread_flops() {
  double best = 0;
  for (int r = 0; r < 3; ++r) {
#if defined(__x86_64__) || defined(__i386__)
    if (__builtin_cpu_supports("avx512f"))
      best = std::max(best, fma_flops_avx512(2'000'000));
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
      best = std::max(best, fma_flops_avx2(2'000'000));
    else
#endif
      best = std::max(best, fma_flops_scalar(4'000'000));
  }
  return best;
}

}  // namespace

double measure_peak_flops(int threads) {
  std::vector<double> per_thread(static_cast<size_t>(threads));
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t)
    workers.emplace_back([&, t] { per_thread[static_cast<size_t>(t)] = best_thread_flops(); });
  for (auto& w : workers) w.join();
  double total = 0;
  for (double f : per_thread) total += f;
  return total;
}

}  // namespace llamascope
