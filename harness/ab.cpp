#include "harness/ab.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "base/error.h"
#include "harness/gate_stats.h"

namespace llamascope {

void AbSpec::check() const {
  if (a.empty() || b.empty())
    throw Error("--ab A --vs B: give both kernel sets (e.g. --ab simd --vs simd,matmul=scalar)");
}

AbSets::AbSets(const Model& model, const AbSpec& ab, int threads, bool b_first, int64_t context,
               int64_t max_batch, TensorType kv_type) {
  for (int i = 0; i < 2; ++i) {
    const int side = b_first ? 1 - i : i;
    set[side] = std::make_unique<KernelSet>(side == 0 ? ab.a : ab.b, BackendOptions{threads});
    forward[side] = std::make_unique<Forward>(model, *set[side], context, max_batch, kv_type);
  }
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
  // Distribution-free interval of the median: the order statistics k and n + 1 - k, k the largest with
  // P(Binomial(n, 1/2) < k) <= 2.5%. It holds its level with few pairs (a prefill gives one pair a
  // repetition), where a bootstrap interval is too narrow; below 6 pairs it is [min, max], of lower level.
  std::sort(ratios.begin(), ratios.end());
  const size_t n = ratios.size();
  size_t k = 1;
  if (n > 1000) {  // 2^-n underflows: the normal approximation of the binomial
    k = static_cast<size_t>(std::max(1.0, n / 2.0 - 1.96 * std::sqrt(n / 4.0)));
    s.ci_level = 0.95;
  } else {
    double below = std::ldexp(1.0, -static_cast<int>(n));  // P(X < 1) = P(X = 0)
    double term = below;
    for (size_t j = 1; j < n; ++j) {  // P(X < j + 1) = P(X < j) + P(X = j)
      term *= static_cast<double>(n - j + 1) / static_cast<double>(j);
      if (below + term > 0.025) break;
      below += term;
      k = j + 1;
    }
    s.ci_level = 1 - 2 * below;
  }
  s.ci_low = ratios[k - 1], s.ci_high = ratios[n - k];
  s.p_value = gate::wilcoxon_signed_rank(logs).p;
  return s;
}

nlohmann::json Speedup::to_json() const {
  return {{"median", median},
          {"ci_low", ci_low},
          {"ci_high", ci_high},
          {"ci_level", ci_level},
          {"p_value", p_value},
          {"pairs", pairs},
          {"of", "B over A: time of A / time of B per step pair"}};
}

}  // namespace llamascope
