// The gate's statistics against reference values computed independently: the Mann-Whitney cases with
// SciPy 1.10 (`scipy.stats.mannwhitneyu(x, y, alternative="two-sided", method=..., use_continuity=True)`
// under /usr/bin/python3), the "sep" p-value also by hand (2 of the C(10,5) = 252 arrangements are as
// extreme: 2/252). The Wilcoxon signed-rank cases with the same SciPy
// (`scipy.stats.wilcoxon(d, method=..., correction=True, zero_method="wilcox")`).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "harness/gate_stats.h"

using namespace llamascope::gate;

TEST(GateStats, MedianOddEvenAndRatio) {
  EXPECT_DOUBLE_EQ(median({3, 1, 2}), 2);
  EXPECT_DOUBLE_EQ(median({4, 1, 3, 2}), 2.5);
  EXPECT_DOUBLE_EQ(median_ratio({10, 10, 10}, {11, 12, 10.5}), 1.1);
}

TEST(GateStats, MannWhitneyExactSeparated) {
  const MannWhitney r = mann_whitney({1, 2, 3, 4, 5}, {6, 7, 8, 9, 10});
  EXPECT_TRUE(r.exact);
  EXPECT_DOUBLE_EQ(r.u, 0);
  EXPECT_NEAR(r.p, 2.0 / 252, 1e-12);  // SciPy exact: 0.007936507936507936
}

TEST(GateStats, MannWhitneyExactOverlapping) {
  const MannWhitney r = mann_whitney({1.1, 2.3, 3.5, 4.2}, {2.0, 3.1, 5.0, 6.5, 7.7});
  EXPECT_TRUE(r.exact);
  EXPECT_DOUBLE_EQ(r.u, 5);
  EXPECT_NEAR(r.p, 0.2857142857142857, 1e-12);  // SciPy exact
  // Swapping the samples mirrors U and keeps p.
  const MannWhitney s = mann_whitney({2.0, 3.1, 5.0, 6.5, 7.7}, {1.1, 2.3, 3.5, 4.2});
  EXPECT_DOUBLE_EQ(s.u, 20 - 5);
  EXPECT_NEAR(s.p, r.p, 1e-12);
}

TEST(GateStats, MannWhitneyTiesUseNormalApproximation) {
  const MannWhitney r = mann_whitney({1, 2, 2, 3, 3, 3, 4, 5}, {3, 4, 4, 5, 5, 6, 7, 7, 8});
  EXPECT_FALSE(r.exact);
  EXPECT_DOUBLE_EQ(r.u, 7.5);
  EXPECT_NEAR(r.p, 0.006373133838085873, 1e-12);  // SciPy asymptotic, tie-corrected, continuity 1/2
}

TEST(GateStats, MannWhitneyLargeSamplesNormalApproximation) {
  const std::vector<double> a = {100.006, 101.494, 98.629,  95.547,  97.727,  95.042, 100.301, 106.701,
                                 97.539,  96.898,  102.449, 101.784, 100.527, 95.348, 99.854};
  const std::vector<double> b = {107.477, 97.279,  101.712, 94.494, 97.552,  94.791,  102.825, 97.663,
                                 105.356, 104.784, 103.065, 91.416, 101.307, 103.757, 104.567, 96.349};
  const MannWhitney r = mann_whitney(a, b);
  EXPECT_FALSE(r.exact);
  EXPECT_DOUBLE_EQ(r.u, 101);
  EXPECT_NEAR(r.p, 0.46461015388609594, 1e-12);  // SciPy asymptotic
}

TEST(GateStats, MannWhitneyAllEqualIsNoEvidence) {
  EXPECT_DOUBLE_EQ(mann_whitney({5, 5, 5}, {5, 5, 5, 5}).p, 1);
}

TEST(GateStats, BootstrapIntervalIsReproducibleAndBracketsTheRatio) {
  std::vector<double> base, cand;
  for (int i = 0; i < 20; ++i) {
    const double wobble = (i * 37 % 11) - 5;  // deterministic spread of +-5 %
    base.push_back(100 + wobble);
    cand.push_back(110 + wobble);
  }
  const Interval a = bootstrap_ratio_interval(base, cand), b = bootstrap_ratio_interval(base, cand);
  EXPECT_EQ(a.low, b.low);
  EXPECT_EQ(a.high, b.high);
  const double ratio = median_ratio(base, cand);
  EXPECT_LE(a.low, ratio);
  EXPECT_GE(a.high, ratio);
  EXPECT_GT(a.low, 1.0);  // a 10 % shift with +-5 % spread is resolved
  EXPECT_LT(a.high, 1.2);
  const Interval same = bootstrap_ratio_interval({7, 7, 7}, {7, 7});
  EXPECT_DOUBLE_EQ(same.low, 1);
  EXPECT_DOUBLE_EQ(same.high, 1);
  // A different seed gives a (slightly) different but still bracketing interval.
  const Interval c = bootstrap_ratio_interval(base, cand, 0.95, 2000, 42);
  EXPECT_LE(c.low, ratio);
  EXPECT_GE(c.high, ratio);
}

TEST(GateStats, RelativeMadAndSamplesNeeded) {
  // MAD of {90, 100, 100, 110, 1000} around its median 100 is 10 (deviations 10, 0, 0, 10, 900): the
  // outlier does not move it.
  EXPECT_NEAR(relative_mad({90, 100, 100, 110, 1000}), 1.4826 * 10 / 100, 1e-12);
  // s = 0.14826 on both sides, target 0.05: n = ceil(1.96^2 * pi/2 * 2 * 0.14826^2 / 0.05^2) = 107
  // (by hand: 3.8416 * 1.5708 * 2 * 0.021981 / 0.0025 = 106.1).
  const std::vector<double> v = {90, 100, 100, 110, 1000};
  EXPECT_EQ(samples_needed(v, v, 0.05), 107);
  EXPECT_EQ(samples_needed(v, v, 0.5), 2);
  EXPECT_EQ(samples_needed(v, v, 0.0), 10000);
  EXPECT_EQ(samples_needed(v, v, 0.0001, 500), 500);
  // Infinite samples (their spread is NaN), or a NaN target: the cap, not a NaN cast to int.
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(samples_needed({inf, inf, inf}, {inf, inf, inf}, 0.05), 10000);
  EXPECT_EQ(samples_needed(v, v, std::nan("")), 10000);
}

TEST(GateStats, SignedRankExact) {
  // SciPy exact: statistic min(W+, W-) = 3, p = 0.0390625 (10 of 256 sign assignments as extreme).
  const SignedRank r = wilcoxon_signed_rank({0.5, -0.2, 1.3, 0.8, 1.1, -0.4, 0.9, 0.6});
  EXPECT_TRUE(r.exact);
  EXPECT_DOUBLE_EQ(r.w_plus, 36 - 3);
  EXPECT_NEAR(r.p, 0.0390625, 1e-12);
  // All six positive: 2 / 64, the smallest p six pairs can give.
  EXPECT_NEAR(wilcoxon_signed_rank({1, 2, 3, 4, 5, 6}).p, 0.03125, 1e-12);
  // Mirroring the signs mirrors W+ and keeps p.
  const SignedRank m = wilcoxon_signed_rank({-0.5, 0.2, -1.3, -0.8, -1.1, 0.4, -0.9, -0.6});
  EXPECT_DOUBLE_EQ(m.w_plus, 3);
  EXPECT_NEAR(m.p, r.p, 1e-12);
}

TEST(GateStats, SignedRankTiesAndLargeSamplesUseNormalApproximation) {
  const SignedRank t = wilcoxon_signed_rank({0.1, 0.2, 0.2, -0.3, 0.4, 0.4, 0.4, 0.5, -0.6, 0.7, 0.8, 0.9});
  EXPECT_FALSE(t.exact);
  EXPECT_NEAR(t.p, 0.045044078801708375, 1e-9);  // SciPy approx, statistic 13
  const std::vector<double> d = {2.340919,  -2.255665, 0.718099,  -0.26777,  -0.152649, 0.084403,
                                 -1.719986, 0.068068,  -0.565213, 3.623,     0.525787,  -0.052631,
                                 0.018713,  -0.368046, -0.755151, -0.090801, 0.781945,  0.061446,
                                 1.257759,  0.100198,  0.32426,   1.845821,  0.845106,  -0.205229,
                                 0.117161,  0.840525,  2.235088,  0.03038,   0.056441,  1.302314};
  const SignedRank big = wilcoxon_signed_rank(d);
  EXPECT_FALSE(big.exact);                        // 30 > kSignedRankExactMax
  EXPECT_NEAR(big.p, 0.09570634635719286, 1e-9);  // SciPy approx (exact: 0.0961)
  EXPECT_DOUBLE_EQ(std::min(big.w_plus, 465 - big.w_plus), 151);
}

TEST(GateStats, SignedRankZerosAreDroppedAndNoDifferenceIsNoEvidence) {
  EXPECT_DOUBLE_EQ(wilcoxon_signed_rank({0, 0, 0}).p, 1);
  EXPECT_NEAR(wilcoxon_signed_rank({0, 1, 2, 3, 4, 5, 6, 0}).p, 0.03125, 1e-12);
}

TEST(GateStats, BootstrapMedianIntervalBracketsTheMedian) {
  std::vector<double> ratios;
  for (int i = 0; i < 25; ++i) ratios.push_back(1.05 + 0.01 * ((i * 7 % 25) - 12) / 12.0);
  const Interval a = bootstrap_median_interval(ratios), b = bootstrap_median_interval(ratios);
  EXPECT_EQ(a.low, b.low);
  EXPECT_EQ(a.high, b.high);
  EXPECT_LE(a.low, median(ratios));
  EXPECT_GE(a.high, median(ratios));
  EXPECT_GT(a.low, 1.03);
  EXPECT_LT(a.high, 1.07);
}
