// `llamascope gate`: the CI performance gate (docs/gate.md). Compares two recorded result files, or runs
// two builds itself (interleaved wall-clock processes, or deterministic counts under Callgrind), and
// exits 0 when nothing regressed, 1 when something did, 2 when the input was unusable.
#include <fmt/format.h>

#include <cstdio>
#include <memory>

#include "base/error.h"
#include "harness/commands.h"
#include "harness/common.h"
#include "harness/gate_modes.h"

namespace llamascope {

namespace {

using namespace gate;

void write_outputs(const GateArgs& args, const std::vector<Comparison>& comparisons,
                   const GateOptions& options, const std::string& mode, const std::string& mode_line) {
  const std::string md = markdown_summary(comparisons, options, mode_line);
  std::fwrite(md.data(), 1, md.size(), stdout);
  std::fflush(stdout);
  if (!args.md_out.empty()) write_file_atomically(args.md_out, md);
  if (!args.json_out.empty())
    write_file_atomically(args.json_out, json_summary(comparisons, options, mode).dump(2) + "\n");
}

void run_gate(const GateArgs& args) {
  GateOptions options;
  const bool counted = args.counter == "instructions";
  if (args.counter != "time" && !counted)
    throw Error("--counter '" + args.counter + "': expected time or instructions");
  // Counts have no noise: the deterministic mode flags far smaller changes than wall-clock time can.
  options.threshold = args.threshold.empty() ? (counted ? 0.005 : 0.02) : parse_threshold(args.threshold);
  if (args.calibrate) {
    if (args.run_binary.empty())
      throw Error("--calibrate needs --run BINARY (the build to measure against itself)");
    calibrate(args, options);
    return;
  }
  std::vector<Comparison> comparisons;
  std::string mode, mode_line;
  if (!args.run_binary.empty()) {
    mode = counted ? "instructions" : "wall-clock";
    comparisons = counted ? run_counted(args, options, mode_line) : run_wall_clock(args, options, mode_line);
  } else {
    if (args.baseline.empty() || args.candidate.empty())
      throw Error("give --baseline FILE and --candidate FILE, or --run BINARY --candidate BINARY");
    if (counted) throw Error("--counter instructions runs builds: give --run BINARY --candidate BINARY");
    const SeriesMap base = series_from_records(load_records(args.baseline), args.by_layer);
    const SeriesMap cand = series_from_records(load_records(args.candidate), args.by_layer);
    comparisons = compare(base, cand, options);
    mode = "records";
    mode_line = fmt::format("recorded results: baseline {}, candidate {}", args.baseline, args.candidate);
  }
  write_outputs(args, comparisons, options, mode, mode_line);
  command_exit_status() = exit_status(comparisons);
}

}  // namespace

void register_gate_command(CLI::App& app) {
  auto args = std::make_shared<GateArgs>();
  auto* cmd = app.add_subcommand("gate", "CI performance gate: compare two result files or two builds");
  cmd->add_option("--baseline", args->baseline, "baseline result file (JSONL of bench or profile records)");
  cmd->add_option("--candidate", args->candidate,
                  "candidate result file; with --run: the candidate's binary");
  cmd->add_option("--run", args->run_binary,
                  "run this baseline binary against --candidate's (A B, B A, ...)");
  cmd->add_option("--threshold", args->threshold, "smallest change that matters, e.g. 2% (default 2%)");
  cmd->add_option("--md", args->md_out, "also write the Markdown summary to FILE");
  cmd->add_option("--json", args->json_out, "also write the llamascope.gate/1 JSON to FILE");
  cmd->add_flag("--by-layer", args->by_layer, "profile records: compare each layer's op separately");
  cmd->add_option("--counter", args->counter,
                  "with --run: time (interleaved processes) or instructions (Callgrind)")
      ->capture_default_str();
  cmd->add_option("--budget", args->budget, "with --run: time to keep sampling, e.g. 90s, 10m")
      ->capture_default_str();
  cmd->add_option("--candidate-env", args->candidate_env,
                  "NAME=VALUE for the candidate's processes only (repeatable)");
  cmd->add_option(
      "--baseline-env", args->baseline_env,
      "NAME=VALUE for the baseline's processes only (repeatable; e.g. a null injection as control)");
  cmd->add_option("--candidate-kernels", args->candidate_kernels,
                  "the candidate's -k (default: the baseline's)");
  cmd->add_flag("--calibrate", args->calibrate, "A/A: measure each benchmark's noise and false-alarm rate");
  cmd->add_option(
      "--calibration", args->calibration_file,
      "calibration file to write (--calibrate) or use (default: the cache folder's gate-calibration.json)");
  cmd->add_option("--runs", args->runs, "--calibrate: processes to run")->capture_default_str();
  cmd->add_option("-m,--model", args->models, "bench: models, comma-separated (default: the bundled one)");
  cmd->add_option("-k,--kernels", args->kernels, "bench: kernel set");
  cmd->add_option("-t,--threads", args->threads, "bench: thread counts");
  cmd->add_option("-p,--n-prompt", args->n_prompt, "bench: prompt lengths");
  cmd->add_option("-n,--n-gen", args->n_gen, "bench: generation lengths");
  cmd->add_option("-r,--repetitions", args->repetitions, "bench: repetitions per process");
  cmd->add_option("--warmup", args->warmup, "bench: warm-up runs per process");
  cmd->callback([args] {
    try {
      run_gate(*args);
    } catch (const Error& e) {
      // Unusable input (or a build that would not run) is not a regression: exit 2, not 1.
      std::fprintf(stderr, "llamascope: error: %s\n", e.what());
      command_exit_status() = 2;
    } catch (const nlohmann::json::exception& e) {
      std::fprintf(stderr, "llamascope: error: a record has a field of the wrong type: %s\n", e.what());
      command_exit_status() = 2;
    }
  });
}

}  // namespace llamascope
