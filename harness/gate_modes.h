// `llamascope gate`'s modes that run builds themselves: wall-clock interleaved processes and A/A
// calibration (harness/gate_run.cpp), and deterministic counts under Callgrind (harness/gate_counter.cpp).
// Each returns the comparisons the report (harness/gate_report.cpp) renders.
#pragma once

#include <string>
#include <vector>

#include "harness/gate_compare.h"

namespace llamascope::gate {

struct GateArgs {
  std::string baseline, candidate;  // files, or with --run: the baseline's binary and the candidate's
  std::string run_binary;
  std::string threshold;  // "" = the mode's default
  std::string md_out, json_out;
  bool by_layer = false;
  std::string counter = "time";  // or "instructions"
  std::string budget = "10m";
  std::vector<std::string> candidate_env;  // NAME=VALUE, candidate processes only
  std::vector<std::string> baseline_env;   // NAME=VALUE, baseline processes only
  std::string candidate_kernels;           // the candidate's -k (default: the same as the baseline's)
  bool calibrate = false;
  std::string calibration_file;  // "" = the cache folder's gate-calibration.json
  int runs = 10;                 // --calibrate: processes
  // bench options passed to every bench process ("" / empty = bench's default)
  std::string models, kernels, threads, n_prompt, n_gen, repetitions, warmup;
};

// The bench command line of one process; `kernels` replaces args.kernels when not empty.
std::vector<std::string> bench_argv(const GateArgs& args, const std::string& binary,
                                    const std::string& kernels);

// Seconds of "90s", "10m", "1h" or a bare number of seconds; Error otherwise.
double parse_duration(const std::string& text);

// The calibration file's path (args.calibration_file or the cache folder's), and its contents by key
// (empty when there is none).
std::string calibration_path(const GateArgs& args);
std::map<std::string, Calibration> load_calibration(const std::string& path);

std::vector<Comparison> run_wall_clock(const GateArgs& args, GateOptions& options, std::string& mode_line);
void calibrate(const GateArgs& args, const GateOptions& options);
std::vector<Comparison> run_counted(const GateArgs& args, const GateOptions& options, std::string& mode_line);

}  // namespace llamascope::gate
