// Sampling: greedy is the argmax; a seed reproduces a run; top-k, top-p and min-p keep only what they should;
// temperature sampling follows the softmax distribution.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

#include "base/error.h"
#include "engine/sampler.h"

namespace llamascope {
namespace {

const std::vector<float> kLogits = {1.0f, 3.0f, 2.5f, -1.0f, 3.0f, 0.0f};

TEST(Sampler, GreedyIsTheFirstMaximum) {
  Sampler s(SamplerParams{0.0f});
  EXPECT_EQ(s.sample(kLogits), 1);  // tokens 1 and 4 tie; the first wins, as in llama2.c
}

TEST(Sampler, SeedReproducesTheSequence) {
  std::vector<int32_t> a, b, c;
  Sampler s1(SamplerParams{1.0f, 0, 1.0f, 0.0f, 42}), s2(SamplerParams{1.0f, 0, 1.0f, 0.0f, 42}),
      s3(SamplerParams{1.0f, 0, 1.0f, 0.0f, 43});
  for (int i = 0; i < 200; ++i)
    a.push_back(s1.sample(kLogits)), b.push_back(s2.sample(kLogits)), c.push_back(s3.sample(kLogits));
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST(Sampler, FiltersKeepOnlyTheirTokens) {
  for (int i = 0; i < 300; ++i) {
    Sampler top_k(SamplerParams{1.0f, 2, 1.0f, 0.0f, uint64_t(i)});
    const int32_t t = top_k.sample(kLogits);
    EXPECT_TRUE(t == 1 || t == 4) << t;  // the two largest logits
    Sampler min_p(SamplerParams{1.0f, 0, 1.0f, 0.5f, uint64_t(i)});
    const int32_t m = min_p.sample(kLogits);  // p >= 0.5 p_max: logits within ln 2 of the maximum
    EXPECT_TRUE(m == 1 || m == 4 || m == 2) << m;
    Sampler top_p(SamplerParams{1.0f, 0, 0.05f, 0.0f, uint64_t(i)});
    EXPECT_EQ(top_p.sample(kLogits), 1);  // the first token alone already covers 5%
  }
}

TEST(Sampler, FrequenciesFollowTheSoftmax) {
  Sampler s(SamplerParams{2.0f, 0, 1.0f, 0.0f, 7});
  std::map<int32_t, int> counts;
  const int n = 40000;
  for (int i = 0; i < n; ++i) ++counts[s.sample(kLogits)];
  double total = 0;
  for (float l : kLogits) total += std::exp(l / 2.0);
  for (size_t t = 0; t < kLogits.size(); ++t) {
    const double p = std::exp(kLogits[t] / 2.0) / total;
    EXPECT_NEAR(counts[static_cast<int32_t>(t)] / double(n), p, 4 * std::sqrt(p * (1 - p) / n) + 1e-3) << t;
  }
}

TEST(Sampler, RejectsBadParameters) {
  EXPECT_THROW(Sampler(SamplerParams{-1.0f}), Error);
  EXPECT_THROW(Sampler(SamplerParams{1.0f, -1}), Error);
  EXPECT_THROW(Sampler(SamplerParams{1.0f, 0, 0.0f}), Error);
  EXPECT_THROW(Sampler(SamplerParams{1.0f, 0, 1.0f, 2.0f}), Error);
  EXPECT_THROW(Sampler(SamplerParams{NAN}), Error);
}

}  // namespace
}  // namespace llamascope
