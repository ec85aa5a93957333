// In-process A/B of two kernel sets (`bench --ab A --vs B`, `profile --ab A --vs B`): both sets run on
// the one loaded model in the same process, taking turns step by step, so whatever state a process is in
// (the bimodal decode speed of these machines, the memory it landed on, the frequency) is shared by both
// and cancels in the per-step ratios. The speed-up of B over A is the median of those ratios with a
// distribution-free 95% interval (docs/ab.md).
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/forward.h"
#include "engine/model.h"
#include "kernels/kernel_set.h"

namespace llamascope {

// The two kernel sets of an A/B and their names as given (a set may contain commas:
// "simd,matmul=scalar"); throws Error when either is empty or both flags are not given together.
struct AbSpec {
  std::string a, b;
  bool enabled() const { return !a.empty() || !b.empty(); }
  void check() const;
};

// The two kernel sets of an A/B with their forwards, prepared in the order asked (B first when b_first):
// the copy of the weights prepared later can stream faster, so an A/B prepares them in both orders.
struct AbSets {
  AbSets(const Model& model, const AbSpec& ab, int threads, bool b_first, int64_t context, int64_t max_batch,
         TensorType kv_type);
  std::unique_ptr<KernelSet> set[2];  // 0: A, 1: B
  std::unique_ptr<Forward> forward[2];
};

// One step of each side, back to back: run(0) is A's step, run(1) B's. `turn` even runs A first, odd B
// first, so what the first of a pair gains or loses falls on both alike. The side that just ran rests
// (KernelSet::rest) before the other starts, so its idle workers do not take the other's CPU.
struct PairTimes {
  double a_ns = 0, b_ns = 0;
};
PairTimes time_pair(int turn, KernelSet& a, KernelSet& b, const std::function<void(int side)>& run);

// Speed-up of B over A from paired times: median over pairs of a_ns / b_ns (above 1: B is faster), with
// a distribution-free interval of that median (order statistics; ci_level its coverage: 95% or more from
// 6 pairs on, less below) and the two-sided Wilcoxon signed-rank p-value.
struct Speedup {
  double median = 0, ci_low = 0, ci_high = 0, ci_level = 0, p_value = 1;
  int pairs = 0;
  nlohmann::json to_json() const;  // {"median", "ci_low", "ci_high", "ci_level", "p_value", "pairs", "of"}
};
Speedup speedup_b_over_a(const std::vector<double>& a_ns, const std::vector<double>& b_ns);

}  // namespace llamascope
