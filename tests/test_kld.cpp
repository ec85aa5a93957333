// KL divergence statistics and compact references (harness/kld.h, harness/kld_reference.h): the exact
// divergence against a hand-computed case, the truncated divergence bracketing the exact one within its
// reported bound, llama-perplexity's percentile rule, and the reference file's round trip and rejections.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "base/error.h"
#include "harness/kld.h"
#include "harness/kld_reference.h"

namespace llamascope {
namespace {

std::vector<float> log_row(std::initializer_list<double> probs) {
  std::vector<float> row;
  for (double p : probs) row.push_back(static_cast<float>(std::log(p)));
  return row;
}

TEST(Kld, FullMatchesHandComputedDivergence) {
  // KL(p || q) = 0.5 ln(0.5/0.4) + 0.3 ln(0.3/0.4) + 0.2 ln(0.2/0.2) = 0.0252727...
  const std::vector<float> base = log_row({0.5, 0.3, 0.2}), model = log_row({0.4, 0.4, 0.2});
  const PositionDivergence d = divergence_full(base, model, 1);
  EXPECT_NEAR(d.kld, 0.5 * std::log(0.5 / 0.4) + 0.3 * std::log(0.3 / 0.4), 1e-7);
  EXPECT_NEAR(d.nll_base, -std::log(0.3), 1e-6);
  EXPECT_NEAR(d.nll_model, -std::log(0.4), 1e-6);
  EXPECT_NEAR(d.delta_p, 0.1, 1e-6);
  EXPECT_TRUE(d.same_top);  // ties resolve to the first maximum: token 0 in both
  EXPECT_EQ(d.kld_bound, 0);
}

TEST(Kld, IdenticalRowsDivergeByNothing) {
  const std::vector<float> row = {1.5f, -2.0f, 0.25f, 3.0f};
  const PositionDivergence d = divergence_full(row, row, 2);
  EXPECT_NEAR(d.kld, 0, 1e-12);
  EXPECT_EQ(d.delta_p, 0);
  EXPECT_TRUE(d.same_top);
}

TEST(Kld, TruncatedRowBracketsTheExactDivergence) {
  std::mt19937 rng(7);
  std::normal_distribution<float> logit(0, 2.5f), noise(0, 0.3f);
  for (int trial = 0; trial < 200; ++trial) {
    const int vocab = 64 + trial;
    std::vector<float> base(vocab), model(vocab);
    for (int i = 0; i < vocab; ++i) {
      base[i] = logit(rng);
      model[i] = base[i] + noise(rng);
    }
    const int32_t next = trial % vocab;
    const PositionDivergence exact = divergence_full(base, model, next);
    for (uint32_t k : {1u, 8u, 32u}) {
      KldReference ref;
      ref.min_k = k;
      ref.tail_mass = 1;  // keep exactly k
      ref.add_position(base, next);
      const PositionDivergence top = divergence_top(ref.position(0), model, next);
      EXPECT_LE(top.kld, exact.kld + 1e-9) << "trial " << trial << " k " << k;
      EXPECT_GE(top.kld + top.kld_bound, exact.kld - 1e-9) << "trial " << trial << " k " << k;
      EXPECT_NEAR(top.nll_base, exact.nll_base, 1e-5);
      EXPECT_NEAR(top.nll_model, exact.nll_model, 1e-9);
      EXPECT_EQ(top.same_top, exact.same_top);
    }
  }
}

TEST(Kld, TailMassDecidesHowManyEntriesAreKept) {
  const std::vector<float> base = log_row({0.6, 0.3, 0.09, 0.009, 0.001});
  KldReference ref;
  ref.min_k = 1;
  ref.tail_mass = 0.005;  // 0.6 + 0.3 + 0.09 + 0.009 leaves 0.001
  ref.add_position(base, 0);
  EXPECT_EQ(ref.counts[0], 4u);
  const PositionDivergence d = divergence_top(ref.position(0), base, 0);
  EXPECT_NEAR(d.kld, 0, 1e-7);  // the same distribution, tail lumped: nothing to hide
  ref.tail_mass = 0;
  ref.add_position(base, 0);
  EXPECT_EQ(ref.counts[1], 5u);
  EXPECT_EQ(divergence_top(ref.position(1), base, 0).kld_bound, 0);
}

TEST(Kld, PercentilesInterpolateAsLlamaPerplexity) {
  const std::vector<double> v = {1, 2, 3, 4, 5};
  EXPECT_DOUBLE_EQ(percentile_sorted(v, 0.5), 3);
  EXPECT_DOUBLE_EQ(percentile_sorted(v, 0.1), 1.4);
  EXPECT_DOUBLE_EQ(percentile_sorted(v, 0.999), 4.996);
  EXPECT_DOUBLE_EQ(percentile_sorted(v, 0), 1);
  EXPECT_DOUBLE_EQ(percentile_sorted(v, 1), 5);
}

TEST(Kld, SummaryPerplexityIsExpOfMeanNll) {
  DivergenceStats stats;
  for (double nll : {1.0, 2.0, 3.0}) {
    PositionDivergence d;
    d.nll_model = nll;
    d.nll_base = nll - 0.5;
    d.kld = nll / 10;
    d.delta_p = nll == 2.0 ? 0.1 : -0.1;
    d.same_top = nll != 3.0;
    stats.add(d);
  }
  const nlohmann::json s = stats.summary();
  EXPECT_NEAR(s["ppl"]["model"].get<double>(), std::exp(2.0), 1e-12);
  EXPECT_NEAR(s["ppl"]["base"].get<double>(), std::exp(1.5), 1e-12);
  EXPECT_NEAR(s["ppl"]["ratio"].get<double>(), std::exp(0.5), 1e-12);
  EXPECT_NEAR(s["ppl"]["ratio_stderr"].get<double>(), 0, 1e-12);  // the log ratio is 0.5 everywhere
  EXPECT_NEAR(s["kld"]["mean"].get<double>(), 0.2, 1e-12);
  EXPECT_NEAR(s["kld"]["stderr"].get<double>(), 0.1 / std::sqrt(3.0), 1e-12);  // sd 0.1 over 3 values
  EXPECT_NEAR(s["same_top_p"].get<double>(), 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(s["delta_p"]["rms"].get<double>(), 0.1, 1e-12);
  EXPECT_EQ(s["positions"].get<size_t>(), 3u);
}

class KldReferenceFile : public ::testing::Test {
 protected:
  std::string path = ::testing::TempDir() + "kld_reference_test.bin";
  void TearDown() override { std::remove(path.c_str()); }

  KldReference sample() const {
    KldReference ref;
    ref.n_vocab = 6;
    ref.ctx = 4;
    ref.n_chunks = 2;
    ref.first = 2;
    ref.min_k = 2;
    ref.tail_mass = 0.01;
    ref.base_sha256 = std::string(64, 'a');
    ref.tokens = {1, 3, 4, 5, 1, 2, 2, 0};
    ref.add_position(std::vector<float>{0.1f, 2.0f, -1.0f, 0.5f, 3.0f, -4.0f}, 5);
    ref.add_position(std::vector<float>{1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f}, 0);
    return ref;
  }
  std::string bytes() const {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  void overwrite(const std::string& content) const { std::ofstream(path, std::ios::binary) << content; }
};

TEST_F(KldReferenceFile, RoundTrips) {
  const KldReference ref = sample();
  write_kld_reference(path, ref);
  const KldReference back = read_kld_reference(path);
  EXPECT_EQ(back.tokens, ref.tokens);
  EXPECT_EQ(back.counts, ref.counts);
  EXPECT_EQ(back.ids, ref.ids);
  EXPECT_EQ(back.logits, ref.logits);
  EXPECT_EQ(back.log_sum_exps, ref.log_sum_exps);
  EXPECT_EQ(back.next_logits, ref.next_logits);
  EXPECT_EQ(back.base_sha256, ref.base_sha256);
  EXPECT_EQ(back.ids[0], 4);  // largest first
}

TEST_F(KldReferenceFile, RejectsTruncatedCorruptAndHostileFiles) {
  write_kld_reference(path, sample());
  const std::string good = bytes();
  auto expect_rejected = [&](const std::string& content, const char* why) {
    overwrite(content);
    EXPECT_THROW(read_kld_reference(path), Error) << why;
  };
  for (size_t cut : {size_t(3), size_t(40), good.size() / 2, good.size() - 1})
    expect_rejected(good.substr(0, cut), "truncated");
  expect_rejected("XXXXXXXX" + good.substr(8), "magic");
  expect_rejected(good + "x", "trailing byte");
  std::string huge_count = good;
  const size_t first_count = 8 + 4 + 5 * 4 + 8 + 64 + 8 + 8 * 4;
  huge_count[first_count + 3] = '\x7f';  // an entry count of ~2^31
  expect_rejected(huge_count, "entry count over the vocabulary");
  std::string bad_id = good;
  bad_id[first_count + 4 + 8 + 4] = '\x40';  // first id 64 in a 6-token vocabulary
  expect_rejected(bad_id, "id outside the vocabulary");
  EXPECT_THROW(read_kld_reference(path + ".missing"), Error);
}

}  // namespace
}  // namespace llamascope
