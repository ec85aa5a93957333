// `llamascope gate`, the comparison half: result records in, one verdict per benchmark out. Every input
// (a JSONL file today; a stored history revision later) goes through load_records(); the records become
// named series of samples (bench rows, and per-op times of profile runs), the baseline's and the
// candidate's series are matched by key, and each pair gets a median ratio, a bootstrap interval, a
// p-value (Mann-Whitney U; Wilcoxon signed-rank for paired samples) and a verdict (docs/gate.md).
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/gate_stats.h"

namespace llamascope::gate {

// The records of one source: today a JSONL file path. Throws Error naming the file (and the line, for a
// line that is not a JSON object with a "schema") when the source is unusable.
std::vector<nlohmann::json> load_records(const std::string& source);

// One benchmark's samples; larger values are worse (times, instruction counts).
struct Series {
  std::string benchmark;  // "stories260K-f32.gguf simd t=2 tg64"
  std::string op;         // "" for a whole-model bench row; else the op (with " L3" for one layer)
  std::string unit;       // "ns/token", "ns", "cycles (est.)"
  std::vector<double> samples;
  bool deterministic = false;  // counted, not timed: one sample is exact
};
using SeriesMap = std::map<std::string, Series>;  // by matching key

// Series of bench records (ns per token, from every repetition's tokens/s) and of profile records (each
// step's time in an op, summed over layers unless by_layer). Keys: model sha256, kernel set (or
// `kernels_override` when not empty), threads, test, op, layer.
SeriesMap series_from_records(const std::vector<nlohmann::json>& records, bool by_layer,
                              const std::string& kernels_override = "");

// What the calibration file says about one benchmark (harness/gate_run.cpp writes it).
struct Calibration {
  int required_samples = 0;
  bool too_noisy = false;
};

struct GateOptions {
  double threshold = 0.02;  // relative change that matters
  double alpha = 0.05;      // significance level of the test
  int min_samples = 3;      // per side, for timed series
  // Samples come in pairs measured side by side (interleaved runs: baseline[i] next to candidate[i]):
  // decide on the per-pair ratios, so drift that hits both members of a pair cancels.
  bool paired = false;
  std::map<std::string, Calibration> calibration;  // by matching key
};

struct Comparison {
  std::string key;
  Series baseline, candidate;
  double ratio = 0;  // median(candidate) / median(baseline); paired: the median per-pair ratio
  Interval interval;
  struct {
    std::string name = "mann-whitney-u";  // or "wilcoxon-signed-rank" (paired)
    double p = 1;
    bool exact = false;
  } test;
  std::string verdict;   // "regression", "improvement", "unchanged", "inconclusive"
  int more_samples = 0;  // inconclusive: about how many more per side would decide
  std::string note;
};

// Compares every key present on both sides. Throws Error when no key is.
std::vector<Comparison> compare(const SeriesMap& baseline, const SeriesMap& candidate, const GateOptions& o);
Comparison compare_one(const std::string& key, const Series& baseline, const Series& candidate,
                       const GateOptions& o);

// 1 when any comparison is a regression, else 0.
int exit_status(const std::vector<Comparison>& comparisons);

// The summary a CI log or pull-request comment shows: regressions first, named by op.
std::string markdown_summary(const std::vector<Comparison>& comparisons, const GateOptions& o,
                             const std::string& mode_line);
// llamascope.gate/1 (docs/gate.md).
nlohmann::json json_summary(const std::vector<Comparison>& comparisons, const GateOptions& o,
                            const std::string& mode);

// "2%" or "0.02" -> 0.02; Error for anything else or outside (0, 1).
double parse_threshold(const std::string& text);

}  // namespace llamascope::gate
