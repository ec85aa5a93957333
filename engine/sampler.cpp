#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "base/error.h"

namespace llamascope {

int32_t argmax(std::span<const float> logits) {
  // The first maximum wins, as in llama2.c, so ties resolve the same way.
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

void Sampler::validate(const SamplerParams& p) {
  if (!(p.temperature >= 0) || !std::isfinite(p.temperature))
    throw Error("--temp must be a finite number >= 0, got " + std::to_string(p.temperature));
  if (p.top_k < 0) throw Error("--top-k must be >= 0, got " + std::to_string(p.top_k));
  if (!(p.top_p > 0 && p.top_p <= 1))
    throw Error("--top-p must be in (0, 1], got " + std::to_string(p.top_p));
  if (!(p.min_p >= 0 && p.min_p <= 1))
    throw Error("--min-p must be in [0, 1], got " + std::to_string(p.min_p));
}

Sampler::Sampler(SamplerParams params) : params_(params), rng_(params.seed) {
  validate(params);
}

int32_t Sampler::sample(std::span<const float> logits) {
  if (params_.temperature == 0.0f) return argmax(logits);

  candidates_.clear();
  for (size_t i = 0; i < logits.size(); ++i) candidates_.emplace_back(logits[i], static_cast<int32_t>(i));
  const auto by_logit = [](const auto& a, const auto& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  size_t keep = candidates_.size();
  if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < keep) {
    keep = static_cast<size_t>(params_.top_k);
    std::partial_sort(candidates_.begin(), candidates_.begin() + keep, candidates_.end(), by_logit);
    candidates_.resize(keep);
  } else {
    std::sort(candidates_.begin(), candidates_.end(), by_logit);
  }

  // Softmax of logit / temperature, in double so that tiny probabilities do not vanish.
  const double max_logit = candidates_.front().first;
  std::vector<double> probs(candidates_.size());
  double total = 0;
  for (size_t i = 0; i < candidates_.size(); ++i)
    total += probs[i] = std::exp((candidates_[i].first - max_logit) / params_.temperature);
  for (double& p : probs) p /= total;

  if (params_.min_p > 0) {
    size_t n = 1;
    while (n < probs.size() && probs[n] >= params_.min_p * probs[0]) ++n;
    probs.resize(n);
  }
  if (params_.top_p < 1) {
    double cumulative = 0;
    size_t n = 0;
    while (n < probs.size()) {
      cumulative += probs[n++];
      if (cumulative >= params_.top_p) break;
    }
    probs.resize(n);
  }
  double kept = 0;
  for (double p : probs) kept += p;
  const double r = std::uniform_real_distribution<double>(0.0, kept)(rng_);
  double cumulative = 0;
  for (size_t i = 0; i < probs.size(); ++i) {
    cumulative += probs[i];
    if (r < cumulative) return candidates_[i].second;
  }
  return candidates_[probs.size() - 1].second;
}

}  // namespace llamascope
