#include "harness/gate_compare.h"

#include <fmt/format.h>

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstring>
#include <fstream>
#include <set>

#include "base/error.h"
#include "harness/common.h"
#include "harness/history.h"
#include "harness/history_store.h"

namespace llamascope::gate {

std::vector<nlohmann::json> load_records(const std::string& source) {
  // The one entry point for every input: a JSONL file, or "history:REV" (the results history's records at
  // commit REV, from $LLAMASCOPE_HISTORY or the default store; "history:REV@DB_URL" names another store).
  if (source.rfind("history:", 0) == 0) {
    const std::string spec = source.substr(8);
    const size_t at = spec.find('@');
    const std::string rev = spec.substr(0, at);
    if (rev.empty()) throw Error(source + ": give a revision, as in history:HEAD~1");
    return history_baseline_records(at == std::string::npos ? default_history_url() : spec.substr(at + 1),
                                    rev);
  }
  std::ifstream in(source);
  if (!in) throw Error(fmt::format("{}: cannot open: {}", source, std::strerror(errno)));
  std::vector<nlohmann::json> records;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json record = nlohmann::json::parse(line, nullptr, false);
    if (record.is_discarded() || !record.is_object())
      throw Error(fmt::format("{}:{}: not a JSON object (corrupt or truncated line)", source, number));
    if (!record.contains("schema") || !record["schema"].is_string())
      throw Error(fmt::format("{}:{}: record without a \"schema\" string", source, number));
    records.push_back(std::move(record));
  }
  if (in.bad()) throw Error(fmt::format("{}: read error", source));
  if (records.empty()) throw Error(fmt::format("{}: no records", source));
  return records;
}

namespace {

// A field the gate needs; a record without it is unusable input, named by its schema.
const nlohmann::json& field(const nlohmann::json& record, const char* pointer) {
  const nlohmann::json::json_pointer p(pointer);
  if (!record.contains(p) || record.at(p).is_null())
    throw Error(fmt::format("a {} record lacks {}", record.value("schema", "?"), pointer));
  return record.at(p);
}

std::string text(const nlohmann::json& record, const char* pointer) {
  const nlohmann::json& v = field(record, pointer);
  return v.is_string() ? v.get<std::string>() : v.dump();
}

// Numbers are checked before conversion (json_integer in harness/common.h says why).
double number(const nlohmann::json& record, const char* pointer) {
  const nlohmann::json& v = field(record, pointer);
  if (!v.is_number())
    throw Error(fmt::format("a {} record's {} is not a number", record.value("schema", "?"), pointer));
  return v.get<double>();
}

int integer(const nlohmann::json& record, const char* pointer) {
  return static_cast<int>(
      json_integer(field(record, pointer), INT_MIN, INT_MAX,
                   fmt::format("a {} record's {}", record.value("schema", "?"), pointer)));
}

void add_bench(SeriesMap& out, const nlohmann::json& r, const std::string& kernels_override) {
  const std::string kernels = kernels_override.empty() ? text(r, "/kernels") : kernels_override;
  const std::string key =
      fmt::format("{}|{}|{}|{}", text(r, "/model/sha256"), kernels, text(r, "/threads"), text(r, "/test"));
  Series& s = out[key];
  s.benchmark = fmt::format("{} {} t={} {}", text(r, "/model/name"), text(r, "/kernels"), text(r, "/threads"),
                            text(r, "/test"));
  s.unit = "ns/token";
  const nlohmann::json& samples = field(r, "/tokens_per_second/samples");
  if (!samples.is_array())
    throw Error("a llamascope.bench/1 record's tokens_per_second.samples is not an array");
  for (const nlohmann::json& tps : samples) {
    // A rate so small that its time per token overflows would turn every statistic into NaN.
    if (!tps.is_number() || tps.get<double>() <= 0 || !std::isfinite(1e9 / tps.get<double>()))
      throw Error("a llamascope.bench/1 record has a sample that is not a positive number of tokens/s");
    s.samples.push_back(1e9 / tps.get<double>());
  }
}

// The context a profile run's layer records share (its first line).
struct ProfileRun {
  std::string sha, name, kernels, threads;
  int n_prompt = 0, n_gen = 0;
};

}  // namespace

SeriesMap series_from_records(const std::vector<nlohmann::json>& records, bool by_layer,
                              const std::string& kernels_override) {
  SeriesMap out;
  std::map<std::string, ProfileRun> runs;  // by run_id
  // (series key, phase, step) -> the step's time in that op; a step's sum is one sample.
  std::map<std::pair<std::string, std::string>, double> step_ns;
  std::map<std::string, Series> op_series;
  for (const nlohmann::json& r : records) {
    const std::string schema = r["schema"].get<std::string>();
    if (schema == "llamascope.bench/1") {
      add_bench(out, r, kernels_override);
    } else if (schema == "llamascope.profile/1") {
      runs[text(r, "/run_id")] = {text(r, "/model/sha256"),
                                  text(r, "/model/name"),
                                  kernels_override.empty() ? text(r, "/kernels") : kernels_override,
                                  text(r, "/threads"),
                                  integer(r, "/n_prompt"),
                                  integer(r, "/n_gen")};
    } else if (schema == "llamascope.layer/2") {
      const auto run = runs.find(text(r, "/run_id"));
      if (run == runs.end())
        throw Error("a llamascope.layer/2 record precedes its llamascope.profile/1 line");
      const ProfileRun& p = run->second;
      const std::string phase = text(r, "/phase");
      const std::string test =
          phase == "prefill" ? fmt::format("pp{}", p.n_prompt) : fmt::format("tg{}", p.n_gen);
      std::string op = text(r, "/op");
      if (by_layer && integer(r, "/layer") >= 0) op += fmt::format(" L{}", integer(r, "/layer"));
      const std::string key = fmt::format("{}|{}|{}|{}|{}", p.sha, p.kernels, p.threads, test, op);
      Series& s = op_series[key];
      s.benchmark = fmt::format("{} {} t={} {}", p.name, p.kernels, p.threads, test);
      s.op = op;
      s.unit = "ns";
      step_ns[{key, text(r, "/run_id") + "/" + text(r, "/step")}] += number(r, "/ns");
    }
  }
  for (const auto& [where, ns] : step_ns) {
    if (!std::isfinite(ns) || ns < 0)
      throw Error(
          fmt::format("the llamascope.layer/2 records of {} sum to {} ns, not a time", where.second, ns));
    op_series[where.first].samples.push_back(ns);
  }
  for (auto& [key, s] : op_series) out[key] = std::move(s);
  return out;
}

Comparison compare_one(const std::string& key, const Series& baseline, const Series& candidate,
                       const GateOptions& o) {
  Comparison c;
  c.key = key, c.baseline = baseline, c.candidate = candidate;
  c.ratio = median_ratio(baseline.samples, candidate.samples);
  const double up = 1 + o.threshold, down = 1 / (1 + o.threshold);
  if (baseline.deterministic && candidate.deterministic) {  // counts are exact: the ratio decides
    c.interval = {c.ratio, c.ratio};
    c.test.p = c.ratio == 1 ? 1 : 0;
    c.verdict = c.ratio > up ? "regression" : c.ratio < down ? "improvement" : "unchanged";
    return c;
  }
  const auto cal = o.calibration.find(key);
  const int min_samples =
      std::max(o.min_samples, cal == o.calibration.end() ? 0 : cal->second.required_samples);
  const int n = static_cast<int>(std::min(baseline.samples.size(), candidate.samples.size()));
  const bool paired = o.paired && baseline.samples.size() == candidate.samples.size();
  std::vector<double> pair_ratios;  // paired: candidate[i] / baseline[i]
  if (paired) {
    std::vector<double> log_ratios;
    for (size_t i = 0; i < baseline.samples.size(); ++i) {
      pair_ratios.push_back(baseline.samples[i] != 0 ? candidate.samples[i] / baseline.samples[i] : 0);
      log_ratios.push_back(pair_ratios.back() > 0 ? std::log(pair_ratios.back()) : 0);
    }
    c.ratio = median(pair_ratios);
    c.interval = bootstrap_median_interval(pair_ratios);
    const SignedRank w = wilcoxon_signed_rank(log_ratios);
    c.test.name = "wilcoxon-signed-rank", c.test.p = w.p, c.test.exact = w.exact;
  } else {
    c.interval = bootstrap_ratio_interval(baseline.samples, candidate.samples);
    const MannWhitney u = mann_whitney(candidate.samples, baseline.samples);
    c.test.p = u.p, c.test.exact = u.exact;
  }
  if (cal != o.calibration.end() && cal->second.too_noisy) {
    c.verdict = "inconclusive";
    c.note = "too noisy to gate in wall-clock mode (calibration)";
    return c;
  }
  if (n < min_samples) {
    c.verdict = "inconclusive";
    c.more_samples = min_samples - n;
    c.note = fmt::format("needs at least {} samples per side", min_samples);
    return c;
  }
  const bool significant = c.test.p < o.alpha;
  if (c.ratio > up && c.interval.low > 1 && significant) {
    c.verdict = "regression";
  } else if (c.ratio < down && c.interval.high < 1 && significant) {
    c.verdict = "improvement";
  } else if (c.interval.low >= down && c.interval.high <= up) {
    c.verdict = "unchanged";
  } else {
    // Open: the interval must shrink until it clears 1 (a change beyond the threshold) or fits inside
    // the threshold band (no change that matters); the spread of the samples says how many that takes.
    const double target = c.ratio > up     ? c.ratio - 1
                          : c.ratio < down ? 1 - c.ratio
                                           : std::min(up - c.ratio, c.ratio - down);
    c.verdict = "inconclusive";
    // Paired: the spread of the ratios alone (samples_needed's second side then adds nothing).
    c.more_samples =
        std::max(1, (paired ? samples_needed(pair_ratios, {}, 0.9 * target)
                            : samples_needed(baseline.samples, candidate.samples, 0.9 * target)) -
                        n);
    c.note = fmt::format("about {} more samples per side would decide it", c.more_samples);
  }
  return c;
}

std::vector<Comparison> compare(const SeriesMap& baseline, const SeriesMap& candidate, const GateOptions& o) {
  std::vector<Comparison> out;
  for (const auto& [key, base] : baseline) {
    const auto it = candidate.find(key);
    if (it == candidate.end() || base.samples.empty() || it->second.samples.empty()) continue;
    out.push_back(compare_one(key, base, it->second, o));
  }
  if (out.empty())
    throw Error(
        fmt::format("no benchmark in common: the baseline has {} and the candidate {} series, none with "
                    "the same model sha256, kernel set, threads, test (and op)",
                    baseline.size(), candidate.size()));
  return out;
}

}  // namespace llamascope::gate
