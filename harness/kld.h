// KL divergence and perplexity of a model's next-token distributions against a base model's, with the
// statistics llama-perplexity --kl-divergence reports (docs/numerics.md says how each figure is defined and
// where it follows llama.cpp's conventions). The base distribution of a position is either a full logits
// row or a compact reference entry (kld_reference.h); both feed one accumulator.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <vector>

namespace llamascope {

// A base distribution known only through its largest entries: the logits of `ids` (largest first), the
// log-sum-exp of the whole row, and the logit of the token that actually came next (so perplexity is exact).
struct TopLogits {
  std::span<const int32_t> ids;
  std::span<const float> logits;
  double log_sum_exp = 0;
  float next_logit = 0;
};

// What one scored position contributes.
struct PositionDivergence {
  double nll_model = 0;  // -log q(next)
  double nll_base = 0;   // -log p(next)
  double kld = 0;        // KL(p || q), nats
  double delta_p = 0;    // q(next) - p(next)
  bool same_top = false;
  // KL(p || q) lies in [kld, kld + kld_bound]: non-zero only when the base row was truncated.
  double kld_bound = 0;
};

// Exact: p from a full base row. Sums in double.
PositionDivergence divergence_full(std::span<const float> base_logits, std::span<const float> model_logits,
                                   int32_t next);
// From a truncated base row: the tokens outside `top` are lumped into one outcome (a lower bound on the
// KL divergence, by the log-sum inequality), and kld_bound is the largest amount the lumping can hide.
PositionDivergence divergence_top(const TopLogits& base, std::span<const float> model_logits, int32_t next);

struct MeanError {
  double mean = 0;
  double stderr_ = 0;  // standard error of the mean (0 for fewer than 2 values)
};

// Accumulates positions; summary() gives every statistic of the report.
class DivergenceStats {
 public:
  void add(const PositionDivergence& d);
  size_t count() const { return kld_.size(); }
  // {"positions", "ppl": {base, base_stderr, model, model_stderr, ratio, ratio_stderr}, "kld": {mean, stderr,
  // median, p1, p5, p10, p90, p95, p99, p99_9, min, max, truncation_bound}, "same_top_p",
  // "same_top_p_stderr", "delta_p": {mean, stderr, median, p1 ... p99_9, min, max, rms, rms_stderr}};
  // fractions, not percents.
  nlohmann::json summary() const;

 private:
  std::vector<double> nll_model_, nll_base_, kld_, delta_p_;
  double bound_sum_ = 0;
  size_t same_top_ = 0;
};

// The value below which `fraction` of the sorted values lie, linearly interpolated between neighbours (as
// llama-perplexity's percentiles are).
double percentile_sorted(std::span<const double> sorted, double fraction);

}  // namespace llamascope
