// `llamascope gate --run`: two builds in alternating processes (A B, B A, ...) so that machine drift hits
// both alike, sampling until every verdict is decisive or the budget is spent; and `--calibrate`, the
// same build against itself, to measure each benchmark's noise and false-alarm rate (docs/gate.md).
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "base/error.h"
#include "harness/common.h"
#include "harness/environment.h"
#include "harness/gate_modes.h"
#include "harness/subprocess.h"

namespace llamascope::gate {

std::vector<std::string> bench_argv(const GateArgs& args, const std::string& binary,
                                    const std::string& kernels) {
  std::vector<std::string> argv = {binary, "bench", "-o", "jsonl", "--no-progress", "--bandwidth", "1"};
  auto add = [&](const char* flag, const std::string& value) {
    if (!value.empty()) argv.insert(argv.end(), {flag, value});
  };
  add("-m", args.models);
  add("-k", kernels.empty() ? args.kernels : kernels);
  add("-t", args.threads);
  add("-p", args.n_prompt);
  add("-n", args.n_gen);
  add("-r", args.repetitions);
  add("--warmup", args.warmup);
  return argv;
}

double parse_duration(const std::string& text) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  const std::string unit = end ? end : "";
  const double scale = unit.empty() || unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : -1;
  if (end == text.c_str() || scale < 0 || !(v > 0))
    throw Error("--budget '" + text + "': expected a duration such as 90s, 10m or 1h");
  return v * scale;
}

std::string calibration_path(const GateArgs& args) {
  if (!args.calibration_file.empty()) return args.calibration_file;
  const std::string dir = cache_dir();
  return dir.empty() ? std::string() : dir + "/gate-calibration.json";
}

std::map<std::string, Calibration> load_calibration(const std::string& path) {
  std::map<std::string, Calibration> out;
  std::error_code ec;
  if (path.empty() || !std::filesystem::exists(path, ec)) return out;
  std::ifstream in(path);
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.contains("benchmarks") || !j["benchmarks"].is_object())
    throw Error(path + ": not a gate calibration file");
  for (const auto& [key, b] : j["benchmarks"].items())
    out[key] = {b.value("required_samples", 0), b.value("too_noisy", false)};
  return out;
}

namespace {

using Clock = std::chrono::steady_clock;

// One bench process; each series' median becomes one sample (repetitions inside a process share its
// state, e.g. the bimodal speed seen here, so the process is the independent unit).
void sample_once(const GateArgs& args, const std::string& binary, const std::string& kernels,
                 const std::vector<std::string>& env, const std::string& key_kernels, SeriesMap& into) {
  const ProcessResult r = run_process(bench_argv(args, binary, kernels), env);
  if (r.status != 0) {
    std::string err = r.err;
    while (!err.empty() && err.back() == '\n') err.pop_back();
    throw Error(
        fmt::format("{} bench exited with status {}: {}", binary, r.status, err.substr(err.rfind('\n') + 1)));
  }
  std::vector<nlohmann::json> records;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.is_object() && j.contains("schema")) records.push_back(std::move(j));
  }
  if (records.empty()) throw Error(binary + " bench wrote no records");
  for (auto& [key, s] : series_from_records(records, false, key_kernels)) {
    Series& target = into[key];
    const std::vector<double> samples = s.samples;
    if (target.samples.empty()) target = s, target.samples.clear();
    target.samples.push_back(median(samples));
  }
}

bool all_decisive(const std::vector<Comparison>& comparisons) {
  for (const Comparison& c : comparisons)
    if (c.verdict == "inconclusive" && c.note.find("too noisy") == std::string::npos) return false;
  return true;
}

}  // namespace

std::vector<Comparison> run_wall_clock(const GateArgs& args, GateOptions& options, std::string& mode_line) {
  if (args.candidate.empty())
    throw Error("--run BINARY needs --candidate BINARY (give the same one for A/A)");
  const double budget = parse_duration(args.budget);
  const std::string cal_path = calibration_path(args);
  options.calibration = load_calibration(cal_path);
  options.paired = true;
  // A verdict is looked at after every pair, and each look is another chance of a false alarm: the
  // stricter level keeps the false-alarm rate of a whole run low (docs/gate.md).
  options.alpha = 0.01;
  // 8 pairs: the fewest whose exact two-sided signed-rank p can fall below 0.01 (2 / 2^8).
  options.min_samples = std::max(options.min_samples, 8);
  const std::string key_kernels = args.kernels.empty() ? default_kernel_set() : args.kernels;
  SeriesMap base, cand;
  std::vector<Comparison> comparisons;
  const auto start = Clock::now();
  int pairs = 0;
  for (;;) {
    const auto pair_start = Clock::now();
    // A B, then B A: whatever the first process of a pair gains or loses (a warmer page cache, a
    // frequency step) falls on each side equally often.
    if (pairs % 2 == 0) {
      sample_once(args, args.run_binary, args.kernels, args.baseline_env, key_kernels, base);
      sample_once(args, args.candidate, args.candidate_kernels, args.candidate_env, key_kernels, cand);
    } else {
      sample_once(args, args.candidate, args.candidate_kernels, args.candidate_env, key_kernels, cand);
      sample_once(args, args.run_binary, args.kernels, args.baseline_env, key_kernels, base);
    }
    ++pairs;
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    const double pair_s = std::chrono::duration<double>(Clock::now() - pair_start).count();
    if (pairs >= options.min_samples) {
      comparisons = compare(base, cand, options);
      if (all_decisive(comparisons)) break;
    }
    if (elapsed + pair_s > budget) {
      if (comparisons.empty()) comparisons = compare(base, cand, options);
      break;
    }
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  auto env_note = [](const char* side, const std::vector<std::string>& env) {
    return env.empty() ? std::string() : fmt::format("; {} env: {}", side, fmt::join(env, " "));
  };
  mode_line = fmt::format(
      "wall-clock: {} interleaved process pairs (A B, B A, ...) in {:.0f} s of a {:.0f} s budget; "
      "one sample = one process's median; paired: per-pair ratios, Wilcoxon signed-rank, alpha {}{}{}{}",
      pairs, seconds, budget, options.alpha, options.calibration.empty() ? "" : "; calibration " + cal_path,
      env_note("baseline", args.baseline_env), env_note("candidate", args.candidate_env));
  return comparisons;
}

void calibrate(const GateArgs& args, const GateOptions& options) {
  if (args.runs < 4) throw Error("--runs: an A/A calibration needs at least 4 processes");
  const std::string key_kernels = args.kernels.empty() ? default_kernel_set() : args.kernels;
  SeriesMap samples;
  for (int i = 0; i < args.runs; ++i) {
    std::fprintf(stderr, "llamascope gate: calibration process %d of %d\n", i + 1, args.runs);
    sample_once(args, args.run_binary, args.kernels, args.candidate_env, key_kernels, samples);
  }
  nlohmann::json benchmarks = nlohmann::json::object();
  std::mt19937_64 rng(20261130);
  fmt::print(
      "| benchmark | CV of process medians | false alarms at {:.1f}% (random A/A splits) | samples per side "
      "| gate? |\n| --- | ---: | ---: | ---: | --- |\n",
      options.threshold * 100);
  for (const auto& [key, s] : samples) {
    double mean = 0, sq = 0;
    for (double v : s.samples) mean += v / s.samples.size();
    for (double v : s.samples) sq += (v - mean) * (v - mean);
    const double cv = std::sqrt(sq / (s.samples.size() - 1)) / mean;
    // False alarms: the verdict of many random half/half splits of the same build's samples.
    constexpr int kSplits = 200;
    int alarms = 0;
    for (int i = 0; i < kSplits; ++i) {
      std::vector<double> shuffled = s.samples;
      std::shuffle(shuffled.begin(), shuffled.end(), rng);
      Series a = s, b = s;
      a.samples.assign(shuffled.begin(), shuffled.begin() + shuffled.size() / 2);
      b.samples.assign(shuffled.begin() + shuffled.size() / 2, shuffled.end());
      GateOptions split = options;
      split.min_samples = 2;
      const std::string v = compare_one(key, a, b, split).verdict;
      alarms += v == "regression" || v == "improvement";
    }
    // Samples per side for a 95% interval of the median ratio narrower than half the threshold: the
    // median's standard error is about 1.25 sigma / sqrt(n), and a ratio of two adds the variances.
    const double half = options.threshold / 2;
    const int required = std::max(5, static_cast<int>(std::ceil(2 * std::pow(1.96 * 1.25 * cv / half, 2))));
    const bool too_noisy = required > 60;
    benchmarks[key] = {{"benchmark", s.benchmark},
                       {"cv", cv},
                       {"false_alarm_rate", double(alarms) / kSplits},
                       {"required_samples", required},
                       {"too_noisy", too_noisy},
                       {"samples", s.samples}};
    fmt::print("| {} | {:.2f}% | {:.1f}% | {} | {} |\n", s.benchmark, cv * 100, 100.0 * alarms / kSplits,
               required, too_noisy ? "too noisy" : "yes");
  }
  const std::string path = calibration_path(args);
  if (path.empty()) throw Error("no cache folder for the calibration file: give --calibration FILE");
  std::filesystem::create_directories(std::filesystem::path(path).parent_path().empty()
                                          ? std::filesystem::path(".")
                                          : std::filesystem::path(path).parent_path());
  const nlohmann::json out = {{"schema", "llamascope.gate-calibration/1"},
                              {"threshold", options.threshold},
                              {"processes", args.runs},
                              {"time", utc_now_iso8601()},
                              {"benchmarks", benchmarks}};
  write_file_atomically(path, out.dump(2) + "\n");
  fmt::print("\ncalibration written to {}\n", path);
}

}  // namespace llamascope::gate
