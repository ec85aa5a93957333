// Constructed paired timings for the A/B and gate tests: two sides that drift together from pair to pair
// (as on a shared machine), each with a little jitter of its own so that no two pair ratios tie.
#pragma once

#include <vector>

namespace llamascope::test {

struct PairedSamples {
  std::vector<double> a, b;
};

// n pairs: side a at level_a and side b at level_b, both scaled by the pair's drift (a fixed scramble of the
// pairs, stride coprime with n, spread over [1 - drift / 2, 1 + drift / 2]) and each by its own jitter of
// 0 to 4 times `jitter`.
inline PairedSamples drifting_pairs(int n, int stride, double drift, double level_a, double level_b,
                                    double jitter) {
  PairedSamples s;
  for (int i = 0; i < n; ++i) {
    const double d = 1 + drift * ((i * stride % n) / static_cast<double>(n - 1) - 0.5);
    s.a.push_back(level_a * d * (1 + jitter * (i % 5)));
    s.b.push_back(level_b * d * (1 + jitter * ((i + 2) % 5)));
  }
  return s;
}

}  // namespace llamascope::test
