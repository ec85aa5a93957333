#include "harness/ab.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>

#include "base/error.h"
#include "harness/gate_stats.h"

namespace llamascope {

void AbSpec::check() const {
  if (a.empty() || b.empty())
    throw Error("--ab A --vs B: give both kernel sets (e.g. --ab simd --vs simd,matmul=scalar)");
}

PairTimes time_pair(int turn, KernelSet& a, KernelSet& b, const std::function<void(int side)>& run) {
  using Clock = std::chrono::steady_clock;
  PairTimes t;
  for (int i = 0; i < 2; ++i) {
    const int side = (i + turn) % 2;
    KernelSet& set = side == 0 ? a : b;
    const auto start = Clock::now();
    run(side);
    set.synchronize();
    (side == 0 ? t.a_ns : t.b_ns) = std::chrono::duration<double, std::nano>(Clock::now() - start).count();
    set.rest();
  }
  return t;
}

Speedup speedup_b_over_a(const std::vector<double>& a_ns, const std::vector<double>& b_ns) {
  Speedup s;
  std::vector<double> ratios, logs;
  for (size_t i = 0; i < std::min(a_ns.size(), b_ns.size()); ++i) {
    if (!(a_ns[i] > 0 && b_ns[i] > 0)) continue;
    ratios.push_back(a_ns[i] / b_ns[i]);
    logs.push_back(std::log(ratios.back()));
  }
  s.pairs = static_cast<int>(ratios.size());
  if (ratios.empty()) return s;
  s.median = gate::median(ratios);
  const gate::Interval ci = gate::bootstrap_median_interval(ratios);
  s.ci_low = ci.low, s.ci_high = ci.high;
  s.p_value = gate::wilcoxon_signed_rank(logs).p;
  return s;
}

nlohmann::json Speedup::to_json() const {
  return {{"median", median},   {"ci_low", ci_low}, {"ci_high", ci_high},
          {"p_value", p_value}, {"pairs", pairs},   {"of", "B over A: time of A / time of B per step pair"}};
}

std::string Speedup::text() const {
  return fmt::format("{:.3f}x ({:.3f}x .. {:.3f}x, {} pairs)", median, ci_low, ci_high, pairs);
}

}  // namespace llamascope
