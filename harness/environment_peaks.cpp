// The microbenchmarks behind this machine's limits: a multi-threaded memory read and FP32 FMA loops (the
// x86 vector forms, in machine_roofs_avx2/avx512.cpp, are used only on x86; elsewhere the scalar loop
// stands in).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "harness/environment.h"
#include "harness/machine_roofs_isa.h"

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

double fma_flops_scalar(int64_t iterations) {
  float acc[8];
  for (int i = 0; i < 8; ++i) acc[i] = 0.001f * i;
  return roofs::chain_rate(
      iterations, acc, 2.0, [](float x, int) { return x * 0.999999f + 1e-7f; },
      [](float x, float y) { return x + y; }, [](float x) { return x; });
}

// The FMA loop this CPU runs fastest, best of three.
double best_thread_flops() {
  double best = 0;
  for (int r = 0; r < 3; ++r) {
#if defined(__x86_64__) || defined(__i386__)
    if (__builtin_cpu_supports("avx512f"))
      best = std::max(best, roofs::fma_avx512(2'000'000));
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
      best = std::max(best, roofs::fma_avx2(2'000'000));
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
