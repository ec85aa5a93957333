// The statistics `llamascope gate` decides with (docs/gate.md): the ratio of two samples' medians, its
// bootstrap confidence interval, the Mann-Whitney U test, and how many more samples would settle a
// comparison that is still open; for paired samples (interleaved runs) the median of the per-pair ratios,
// its bootstrap interval and the Wilcoxon signed-rank test. Pure functions over plain vectors, so the unit
// tests can check them against values computed independently.
#pragma once

#include <cstdint>
#include <vector>

namespace llamascope::gate {

double median(std::vector<double> values);

// median(candidate) / median(baseline): above 1 means the candidate's values are larger.
double median_ratio(const std::vector<double>& baseline, const std::vector<double>& candidate);

struct Interval {
  double low = 0, high = 0;
};
// Percentile bootstrap of the median ratio: `resamples` times, each sample is redrawn with replacement
// and the ratio of the medians taken; the interval spans the central `level` of those ratios. The
// generator is seeded with `seed`, so the same inputs always give the same interval.
Interval bootstrap_ratio_interval(const std::vector<double>& baseline, const std::vector<double>& candidate,
                                  double level = 0.95, int resamples = 2000, uint64_t seed = 0x9a7e5eedULL);

// Two-sided Mann-Whitney U test. u is the statistic of the first sample (pairs where a > b, ties 1/2).
// The p-value is exact (the permutation distribution of U) when both samples have at most kExactMax
// values and there are no ties; otherwise the normal approximation with the tie correction of the
// variance and a continuity correction of 1/2.
struct MannWhitney {
  double u = 0;
  double p = 1;
  bool exact = false;
};
constexpr int kExactMax = 12;
MannWhitney mann_whitney(const std::vector<double>& a, const std::vector<double>& b);

// Percentile bootstrap of one sample's median (for paired runs: the per-pair ratios), seeded like
// bootstrap_ratio_interval.
Interval bootstrap_median_interval(const std::vector<double>& values, double level = 0.95,
                                   int resamples = 2000, uint64_t seed = 0x9a7e5eedULL);

// Two-sided Wilcoxon signed-rank test of paired differences against a zero median. Zero differences are
// dropped (Wilcoxon's own rule); w_plus is the rank sum of the positive ones. The p-value is exact when
// at most kSignedRankExactMax differences remain and their magnitudes have no ties; otherwise the normal
// approximation with the tie correction of the variance and a continuity correction of 1/2.
struct SignedRank {
  double w_plus = 0;
  double p = 1;
  bool exact = false;
};
constexpr int kSignedRankExactMax = 25;
SignedRank wilcoxon_signed_rank(const std::vector<double>& differences);

// Relative spread of a sample, robust to outliers: 1.4826 x the median absolute deviation / the median
// (the standard deviation / mean for normal data).
double relative_mad(const std::vector<double>& values);

// Samples per side after which the 95% interval of the median ratio would be about +-target wide: the
// median's standard error is sqrt(pi/2) sigma / sqrt(n) for normal data, and a ratio adds the two sides'
// relative variances, so n = (1.96 sqrt(pi/2))^2 (s_a^2 + s_b^2) / target^2 with s = relative_mad.
// Capped at `cap` (also when target is 0).
int samples_needed(const std::vector<double>& baseline, const std::vector<double>& candidate, double target,
                   int cap = 10000);

}  // namespace llamascope::gate
