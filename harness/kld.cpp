#include "harness/kld.h"

#include <algorithm>
#include <cmath>

#include "base/error.h"

namespace llamascope {
namespace {

struct RowMax {
  double max = 0;
  int32_t argmax = 0;
};

RowMax row_max(std::span<const float> logits) {
  RowMax r{logits[0], 0};
  for (size_t i = 1; i < logits.size(); ++i)
    if (logits[i] > r.max) r = {logits[i], static_cast<int32_t>(i)};
  return r;
}

double log_sum_exp(std::span<const float> logits, double max) {
  double sum = 0;
  for (float v : logits) sum += std::exp(v - max);
  return max + std::log(sum);
}

void check_next(int32_t next, size_t n_vocab) {
  if (next < 0 || static_cast<size_t>(next) >= n_vocab)
    throw Error("token " + std::to_string(next) + " is outside the vocabulary");
}

MeanError mean_error(std::span<const double> values) {
  MeanError m;
  const double n = static_cast<double>(values.size());
  if (values.empty()) return m;
  for (double v : values) m.mean += v;
  m.mean /= n;
  if (values.size() < 2) return m;
  double ss = 0;
  for (double v : values) ss += (v - m.mean) * (v - m.mean);
  m.stderr_ = std::sqrt(ss / (n - 1) / n);
  return m;
}

// mean, stderr, median, the percentiles llama-perplexity prints, min and max of `values`.
nlohmann::json distribution(std::vector<double> values) {
  const MeanError m = mean_error(values);
  std::sort(values.begin(), values.end());
  nlohmann::json out = {{"mean", m.mean}, {"stderr", m.stderr_}};
  if (values.empty()) return out;
  out["median"] = percentile_sorted(values, 0.5);
  const std::pair<const char*, double> levels[] = {{"p1", 0.01},    {"p5", 0.05},  {"p10", 0.10},
                                                   {"p90", 0.90},   {"p95", 0.95}, {"p99", 0.99},
                                                   {"p99_9", 0.999}};
  for (const auto& [name, fraction] : levels) out[name] = percentile_sorted(values, fraction);
  out["min"] = values.front();
  out["max"] = values.back();
  return out;
}

}  // namespace

double percentile_sorted(std::span<const double> sorted, double fraction) {
  if (sorted.empty()) return 0;
  if (fraction <= 0) return sorted.front();
  if (fraction >= 1) return sorted.back();
  const double at = fraction * static_cast<double>(sorted.size() - 1);
  const size_t i = static_cast<size_t>(at);
  const double w = at - static_cast<double>(i);
  return (1 - w) * sorted[i] + w * sorted[std::min(i + 1, sorted.size() - 1)];
}

PositionDivergence divergence_full(std::span<const float> base_logits, std::span<const float> model_logits,
                                   int32_t next) {
  if (base_logits.size() != model_logits.size() || base_logits.empty())
    throw Error("base and model rows differ in vocabulary size");
  check_next(next, base_logits.size());
  const RowMax pm = row_max(base_logits), qm = row_max(model_logits);
  const double lse_p = log_sum_exp(base_logits, pm.max), lse_q = log_sum_exp(model_logits, qm.max);
  PositionDivergence d;
  for (size_t i = 0; i < base_logits.size(); ++i) {
    const double lp = base_logits[i] - lse_p;
    d.kld += std::exp(lp) * (lp - (model_logits[i] - lse_q));
  }
  d.kld = std::max(d.kld, 0.0);
  d.nll_base = lse_p - base_logits[next];
  d.nll_model = lse_q - model_logits[next];
  d.delta_p = std::exp(-d.nll_model) - std::exp(-d.nll_base);
  d.same_top = pm.argmax == qm.argmax;
  return d;
}

PositionDivergence divergence_top(const TopLogits& base, std::span<const float> model_logits, int32_t next) {
  const size_t n_vocab = model_logits.size();
  check_next(next, n_vocab);
  if (base.ids.empty() || base.ids.size() != base.logits.size() || base.ids.size() > n_vocab)
    throw Error("reference row has no entries or more than the vocabulary");
  const RowMax qm = row_max(model_logits);
  const double lse_q = log_sum_exp(model_logits, qm.max);
  std::vector<char> kept(n_vocab, 0);
  PositionDivergence d;
  double p_kept = 0;
  for (size_t j = 0; j < base.ids.size(); ++j) {
    const int32_t id = base.ids[j];
    if (id < 0 || static_cast<size_t>(id) >= n_vocab || kept[id])
      throw Error("reference row names token " + std::to_string(id) + " twice or outside the vocabulary");
    kept[id] = 1;
    const double lp = base.logits[j] - base.log_sum_exp;
    p_kept += std::exp(lp);
    d.kld += std::exp(lp) * (lp - (model_logits[id] - lse_q));
  }
  // The tail: every token the reference left out, lumped into one outcome.
  std::vector<double> tail_log_q;
  double q_tail = 0;
  for (size_t i = 0; i < n_vocab; ++i)
    if (!kept[i]) {
      tail_log_q.push_back(model_logits[i] - lse_q);
      q_tail += std::exp(tail_log_q.back());
    }
  const double p_tail = std::max(0.0, 1.0 - p_kept);
  if (p_tail > 0 && !tail_log_q.empty() && q_tail > 0) {
    d.kld += p_tail * std::log(p_tail / q_tail);
    // The hidden part is p_tail * KL(a || b), a and b the base's and the model's distributions within the
    // tail. Each a_i is at most c = p(smallest kept) / p_tail, so KL(a || b), convex in a, is largest at a
    // vertex of {0 <= a_i <= c, sum a = 1}: mass c on the tokens the model finds least likely.
    const double p_last = std::exp(base.logits.back() - base.log_sum_exp);
    const double c = std::min(1.0, p_last / p_tail);
    std::sort(tail_log_q.begin(), tail_log_q.end());
    const double log_q_tail = std::log(q_tail);
    double left = 1, worst = 0;
    for (size_t j = 0; j < tail_log_q.size() && left > 0; ++j) {
      const double a = std::min(c, left);
      worst += a * (std::log(a) - (tail_log_q[j] - log_q_tail));
      left -= a;
    }
    d.kld_bound = p_tail * std::max(worst, 0.0);
  }
  d.kld = std::max(d.kld, 0.0);
  d.nll_base = base.log_sum_exp - base.next_logit;
  d.nll_model = lse_q - model_logits[next];
  d.delta_p = std::exp(-d.nll_model) - std::exp(-d.nll_base);
  d.same_top = base.ids[0] == qm.argmax;
  return d;
}

void DivergenceStats::add(const PositionDivergence& d) {
  nll_model_.push_back(d.nll_model);
  nll_base_.push_back(d.nll_base);
  kld_.push_back(d.kld);
  delta_p_.push_back(d.delta_p);
  bound_sum_ += d.kld_bound;
  same_top_ += d.same_top ? 1 : 0;
}

nlohmann::json DivergenceStats::summary() const {
  const size_t n = count();
  const MeanError nll_m = mean_error(nll_model_), nll_b = mean_error(nll_base_);
  std::vector<double> log_ratio(n), dp2(n);
  for (size_t i = 0; i < n; ++i) {
    log_ratio[i] = nll_model_[i] - nll_base_[i];
    dp2[i] = delta_p_[i] * delta_p_[i];
  }
  const MeanError ratio = mean_error(log_ratio), mse = mean_error(dp2);
  const double ppl_model = std::exp(nll_m.mean), ppl_base = std::exp(nll_b.mean);
  const double ppl_ratio = std::exp(ratio.mean);
  nlohmann::json out;
  out["positions"] = n;
  out["ppl"] = {{"model", ppl_model},     {"model_stderr", ppl_model * nll_m.stderr_},
                {"base", ppl_base},       {"base_stderr", ppl_base * nll_b.stderr_},
                {"ratio", ppl_ratio},     {"ratio_stderr", ppl_ratio * ratio.stderr_},
                {"ln_ratio", ratio.mean}, {"ln_ratio_stderr", ratio.stderr_}};
  out["kld"] = distribution(kld_);
  out["kld"]["truncation_bound"] = n ? bound_sum_ / static_cast<double>(n) : 0.0;
  const double same = n ? static_cast<double>(same_top_) / static_cast<double>(n) : 0.0;
  out["same_top_p"] = same;
  out["same_top_p_stderr"] = n > 1 ? std::sqrt(same * (1 - same) / static_cast<double>(n - 1)) : 0.0;
  out["delta_p"] = distribution(delta_p_);
  const double rms = std::sqrt(mse.mean);
  out["delta_p"]["rms"] = rms;
  out["delta_p"]["rms_stderr"] = rms > 0 ? 0.5 / rms * mse.stderr_ : 0.0;
  return out;
}

}  // namespace llamascope
