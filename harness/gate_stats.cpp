#include "harness/gate_stats.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace llamascope::gate {

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  const size_t n = values.size(), mid = n / 2;
  std::nth_element(values.begin(), values.begin() + mid, values.end());
  if (n % 2) return values[mid];
  const double upper = values[mid];
  return 0.5 * (*std::max_element(values.begin(), values.begin() + mid) + upper);
}

double median_ratio(const std::vector<double>& baseline, const std::vector<double>& candidate) {
  const double base = median(baseline);
  return base != 0 ? median(candidate) / base : 0;
}

namespace {

// The central `level` of a bootstrap distribution, by nearest-rank percentiles.
Interval percentile_interval(std::vector<double> draws, double level) {
  if (draws.empty()) return {};
  std::sort(draws.begin(), draws.end());
  const double tail = (1 - level) / 2;
  auto at = [&](double q) {
    const double index =
        std::clamp(q * static_cast<double>(draws.size()) - 0.5, 0.0, static_cast<double>(draws.size() - 1));
    return draws[static_cast<size_t>(std::lround(index))];
  };
  return {at(tail), at(1 - tail)};
}

}  // namespace

Interval bootstrap_ratio_interval(const std::vector<double>& baseline, const std::vector<double>& candidate,
                                  double level, int resamples, uint64_t seed) {
  if (baseline.empty() || candidate.empty() || resamples < 1) return {};
  std::mt19937_64 rng(seed);
  std::vector<double> ratios, base(baseline.size()), cand(candidate.size());
  ratios.reserve(static_cast<size_t>(resamples));
  auto redraw = [&rng](const std::vector<double>& from, std::vector<double>& to) {
    std::uniform_int_distribution<size_t> pick(0, from.size() - 1);
    for (double& v : to) v = from[pick(rng)];
  };
  for (int r = 0; r < resamples; ++r) {
    redraw(baseline, base);
    redraw(candidate, cand);
    const double m = median(base);
    if (m != 0) ratios.push_back(median(cand) / m);
  }
  return percentile_interval(ratios, level);
}

namespace {

// Number of ways to choose a rank arrangement giving each U value, for samples of n and m without ties:
// the classic recurrence c(n, m, u) = c(n-1, m, u-m) + c(n, m-1, u), tabulated over u.
std::vector<double> exact_u_distribution(int n, int m) {
  // dist[i][j] = counts for samples of sizes i and j; built up in j for each i.
  std::vector<std::vector<std::vector<double>>> dist(
      static_cast<size_t>(n + 1), std::vector<std::vector<double>>(static_cast<size_t>(m + 1)));
  for (int i = 0; i <= n; ++i)
    for (int j = 0; j <= m; ++j) {
      std::vector<double>& d = dist[size_t(i)][size_t(j)];
      d.assign(static_cast<size_t>(i * j + 1), 0.0);
      if (i == 0 || j == 0) {
        d[0] = 1;
        continue;
      }
      // The largest value belongs to the first sample (it beats all j of the second) or to the second.
      const std::vector<double>& a = dist[size_t(i - 1)][size_t(j)];
      const std::vector<double>& b = dist[size_t(i)][size_t(j - 1)];
      for (size_t u = 0; u < a.size(); ++u) d[u + size_t(j)] += a[u];
      for (size_t u = 0; u < b.size(); ++u) d[u] += b[u];
    }
  return dist[size_t(n)][size_t(m)];
}

}  // namespace

MannWhitney mann_whitney(const std::vector<double>& a, const std::vector<double>& b) {
  MannWhitney result;
  const size_t n = a.size(), m = b.size();
  if (n == 0 || m == 0) return result;
  // Ranks over the pooled samples, ties sharing their average rank.
  std::vector<std::pair<double, int>> pooled;
  for (double v : a) pooled.push_back({v, 0});
  for (double v : b) pooled.push_back({v, 1});
  std::sort(pooled.begin(), pooled.end());
  double rank_sum_a = 0, tie_term = 0;
  bool ties = false;
  for (size_t i = 0; i < pooled.size();) {
    size_t j = i;
    while (j < pooled.size() && pooled[j].first == pooled[i].first) ++j;
    const double t = static_cast<double>(j - i), rank = 0.5 * static_cast<double>(i + j + 1);
    if (j - i > 1) ties = true, tie_term += t * t * t - t;
    for (size_t k = i; k < j; ++k)
      if (pooled[k].second == 0) rank_sum_a += rank;
    i = j;
  }
  const double dn = static_cast<double>(n), dm = static_cast<double>(m), N = dn + dm;
  result.u = rank_sum_a - dn * (dn + 1) / 2;
  const double mean = dn * dm / 2;
  if (!ties && n <= size_t(kExactMax) && m <= size_t(kExactMax)) {
    const std::vector<double> counts = exact_u_distribution(static_cast<int>(n), static_cast<int>(m));
    double total = 0, tail = 0;
    const double extreme = std::min(result.u, dn * dm - result.u);  // the distribution is symmetric
    for (size_t u = 0; u < counts.size(); ++u) {
      total += counts[u];
      if (static_cast<double>(u) <= extreme + 1e-9) tail += counts[u];
    }
    result.p = std::min(1.0, 2 * tail / total);
    result.exact = true;
    return result;
  }
  const double variance = dn * dm / 12 * ((N + 1) - tie_term / (N * (N - 1)));
  if (variance <= 0) return result;  // every value equal: no evidence of a difference
  const double z = std::max(0.0, std::fabs(result.u - mean) - 0.5) / std::sqrt(variance);
  result.p = std::min(1.0, std::erfc(z / std::sqrt(2.0)));
  return result;
}

Interval bootstrap_median_interval(const std::vector<double>& values, double level, int resamples,
                                   uint64_t seed) {
  if (values.empty() || resamples < 1) return {};
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<size_t> pick(0, values.size() - 1);
  std::vector<double> medians, redrawn(values.size());
  medians.reserve(static_cast<size_t>(resamples));
  for (int r = 0; r < resamples; ++r) {
    for (double& v : redrawn) v = values[pick(rng)];
    medians.push_back(median(redrawn));
  }
  return percentile_interval(medians, level);
}

SignedRank wilcoxon_signed_rank(const std::vector<double>& differences) {
  SignedRank result;
  std::vector<std::pair<double, bool>> nonzero;
  for (double d : differences)
    if (d != 0) nonzero.push_back({std::fabs(d), d > 0});
  const size_t n = nonzero.size();
  if (n == 0) return result;  // no difference at all: no evidence
  std::sort(nonzero.begin(), nonzero.end());
  double tie_term = 0;
  bool ties = false;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && nonzero[j].first == nonzero[i].first) ++j;
    const double t = static_cast<double>(j - i), rank = 0.5 * static_cast<double>(i + j + 1);
    if (j - i > 1) ties = true, tie_term += t * t * t - t;
    for (size_t k = i; k < j; ++k)
      if (nonzero[k].second) result.w_plus += rank;
    i = j;
  }
  const double dn = static_cast<double>(n), total = dn * (dn + 1) / 2;
  if (!ties && n <= size_t(kSignedRankExactMax)) {
    // Under the null each rank is positive or negative with probability 1/2: count the 2^n sign
    // assignments by their rank sum (subset sums of 1..n).
    std::vector<double> counts(static_cast<size_t>(total) + 1, 0.0);
    counts[0] = 1;
    for (size_t rank = 1; rank <= n; ++rank)
      for (size_t s = counts.size() - 1; s >= rank; --s) counts[s] += counts[s - rank];
    const double extreme = std::min(result.w_plus, total - result.w_plus);  // symmetric distribution
    double tail = 0;
    for (size_t s = 0; s < counts.size() && static_cast<double>(s) <= extreme + 1e-9; ++s) tail += counts[s];
    result.p = std::min(1.0, 2 * tail / std::ldexp(1.0, static_cast<int>(n)));
    result.exact = true;
    return result;
  }
  const double variance = dn * (dn + 1) * (2 * dn + 1) / 24 - tie_term / 48;
  if (variance <= 0) return result;
  const double z = std::max(0.0, std::fabs(result.w_plus - total / 2) - 0.5) / std::sqrt(variance);
  result.p = std::min(1.0, std::erfc(z / std::sqrt(2.0)));
  return result;
}

double relative_mad(const std::vector<double>& values) {
  const double m = median(values);
  if (values.empty() || m == 0) return 0;
  std::vector<double> deviations;
  for (double v : values) deviations.push_back(std::fabs(v - m));
  return 1.4826 * median(deviations) / std::fabs(m);
}

int samples_needed(const std::vector<double>& baseline, const std::vector<double>& candidate, double target,
                   int cap) {
  if (!(target > 0)) return cap;
  const double sa = relative_mad(baseline), sb = relative_mad(candidate);
  const double z = 1.96 * std::sqrt(M_PI / 2);
  const double n = std::ceil(z * z * (sa * sa + sb * sb) / (target * target));
  // Extreme samples can make n NaN (inf / inf); converting NaN to int is undefined.
  return !(n < cap) ? cap : std::max(1, static_cast<int>(n));
}

}  // namespace llamascope::gate
