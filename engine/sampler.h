// Choosing the next token from logits: greedy (temperature 0), or temperature with top-k, top-p and min-p
// filtering, driven by a seeded generator so that a seed reproduces a run exactly.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <utility>
#include <vector>

namespace llamascope {

struct SamplerParams {
  float temperature = 1.0f;  // 0: greedy
  int top_k = 0;             // 0: off
  float top_p = 1.0f;        // 1: off
  float min_p = 0.0f;        // 0: off; keeps tokens with p >= min_p * p(max)
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(SamplerParams params);
  // Throws Error for parameters out of range (negative temperature, top_p outside (0, 1], ...).
  static void validate(const SamplerParams& params);
  int32_t sample(std::span<const float> logits);

 private:
  SamplerParams params_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int32_t>> candidates_;  // (probability or logit, token), reused
};

int32_t argmax(std::span<const float> logits);

}  // namespace llamascope
