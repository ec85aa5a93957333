// The in-process A/B's pairing and its speed-up statistics on constructed times.
#include <gtest/gtest.h>

#include <vector>

#include "base/error.h"
#include "harness/ab.h"
#include "tests/support/paired_samples.h"

using namespace llamascope;

TEST(Ab, PairsAlternateTheirOrderAndTimeEachSide) {
  KernelSet a("scalar", BackendOptions{1}), b("scalar", BackendOptions{1});
  std::vector<int> order;
  for (int turn = 0; turn < 4; ++turn) {
    const PairTimes t = time_pair(turn, a, b, [&](int side) { order.push_back(side); });
    EXPECT_GE(t.a_ns, 0);
    EXPECT_GE(t.b_ns, 0);
  }
  EXPECT_EQ(order, (std::vector<int>{0, 1, 1, 0, 0, 1, 1, 0}));
}

TEST(Ab, SpeedupIsTheMedianPerPairRatioWithAnInterval) {
  // B takes 80 % of A's time in every pair while both drift together by +-40 %.
  const auto [a, b] = test::drifting_pairs(40, 13, 0.4, 1000, 800, 0.002);
  const Speedup s = speedup_b_over_a(a, b);
  EXPECT_EQ(s.pairs, 40);
  EXPECT_NEAR(s.median, 1.25, 0.01);
  EXPECT_LT(s.ci_low, s.median + 1e-12);
  EXPECT_GT(s.ci_high, s.median - 1e-12);
  EXPECT_GT(s.ci_low, 1.2);
  EXPECT_LT(s.ci_high, 1.3);
  EXPECT_LT(s.p_value, 1e-6);
  // A against itself: the interval holds 1 and the test finds nothing.
  const Speedup same = speedup_b_over_a(a, a);
  EXPECT_DOUBLE_EQ(same.median, 1);
  EXPECT_DOUBLE_EQ(same.p_value, 1);
  const nlohmann::json j = s.to_json();
  EXPECT_EQ(j["pairs"], 40);
  EXPECT_DOUBLE_EQ(j["ci_low"].get<double>(), s.ci_low);
}

TEST(Ab, IntervalIsTheOrderStatisticsOfTheMedian) {
  // 4 pairs: [min, max], level 1 - 2/16; 10 pairs: the 2nd and 9th ratios, level 1 - 2 * 11/1024
  // (P(Binomial(10, 1/2) < 2) = 11/1024 <= 2.5% < P(< 3) = 56/1024).
  const Speedup four = speedup_b_over_a({10, 20, 30, 40}, {5, 10, 20, 40});
  EXPECT_DOUBLE_EQ(four.ci_low, 1);
  EXPECT_DOUBLE_EQ(four.ci_high, 2);
  EXPECT_DOUBLE_EQ(four.ci_level, 0.875);
  std::vector<double> a, b;
  for (int i = 1; i <= 10; ++i) a.push_back(100), b.push_back(100.0 / (1 + 0.01 * i));  // ratios 1.01..1.10
  const Speedup ten = speedup_b_over_a(a, b);
  EXPECT_NEAR(ten.ci_low, 1.02, 1e-12);
  EXPECT_NEAR(ten.ci_high, 1.09, 1e-12);
  EXPECT_NEAR(ten.ci_level, 1 - 2 * 11.0 / 1024, 1e-12);
}

TEST(Ab, BothSetsAreRequired) {
  EXPECT_THROW((AbSpec{"simd", ""}.check()), Error);
  EXPECT_THROW((AbSpec{"", "simd"}.check()), Error);
  EXPECT_NO_THROW((AbSpec{"simd", "simd,matmul=scalar"}.check()));
  EXPECT_FALSE(AbSpec{}.enabled());
}
