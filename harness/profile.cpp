// `llamascope profile`: where the time of a forward step goes, per layer and op. An observer on the forward
// records every op (wall time, backend synchronised around it); bytes moved and FLOPs per op follow from the
// op's descriptor (OpDesc in kernels/op_desc.h, documented in docs/results.md). Writes llamascope.profile/1
// (the run), llamascope.step/1 (one per forward step) and llamascope.layer/2 (one per op) records, an
// optional Chrome Trace Event file (steps > layers > ops as nested slices), and a summary on stdout: time
// share per op and per layer, achieved GB/s and GFLOP/s against this machine's limits, and how much of each
// step's wall time the per-op times cover. --overhead measures what the per-op timing itself costs.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "base/error.h"
#include "engine/forward.h"
#include "engine/model.h"
#include "engine/sampler.h"
#include "harness/commands.h"
#include "harness/common.h"
#include "harness/environment.h"
#include "harness/gate_compare.h"
#include "harness/golden.h"
#include "harness/layer_check.h"
#include "harness/machine_roofs.h"
#include "harness/model_inputs.h"
#include "harness/profile_ab.h"
#include "harness/profile_records.h"
#include "harness/profile_table.h"
#include "harness/records.h"

namespace llamascope {

namespace {

using Clock = std::chrono::steady_clock;

struct ProfileArgs {
  std::string model;
  KernelFlags kernels;
  int n_prompt = 128;
  int n_gen = 32;
  std::string jsonl;
  std::string trace;
  bool check_layers = false;
  double bandwidth_gbps = 0;
  double peak_gflops = 0;
  int overhead_rounds = 0;
  AbSpec ab;  // --ab A --vs B: per-op A/B of two kernel sets instead (harness/profile_ab.h)
  int ab_rounds = 4;
  std::string ab_threshold = "5%";
};

// `profile --ab A --vs B`: the A/B takes its kernel sets from --ab/--vs and writes only its own outputs.
void run_profile_ab(const ProfileArgs& args, bool kernels_given) {
  if (kernels_given) throw Error("--ab A --vs B names both kernel sets: leave out -k");
  if (!args.trace.empty() || args.check_layers || args.overhead_rounds > 0)
    throw Error("--ab runs an A/B: --trace, --check-layers and --overhead belong to a single-set profile");
  ProfileAbArgs ab;
  ab.ab = args.ab;
  ab.model = args.model;
  ab.threads = args.kernels.threads;
  ab.kv_type = args.kernels.kv_type;
  ab.n_prompt = args.n_prompt, ab.n_gen = args.n_gen;
  ab.rounds = args.ab_rounds;
  ab.threshold = gate::parse_threshold(args.ab_threshold);
  ab.jsonl = args.jsonl;
  profile_ab(ab);
}

class Recorder : public OpObserver {
 public:
  explicit Recorder(Clock::time_point origin) : origin_(origin) {}
  void on_op(const OpEvent& event) override {
    ops.push_back(
        {event, std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - origin_).count()});
  }
  std::vector<OpRecord> ops;

 private:
  Clock::time_point origin_;
};

// Decode tokens/s with the observer attached or not: prefill (untimed), then n_gen timed single-token steps.
double decode_tokens_per_second(Forward& forward, const std::vector<int32_t>& prompt, int n_gen,
                                OpObserver* observer, std::vector<float>& logits) {
  forward.set_observer(nullptr);
  forward.eval(prompt, 0, logits.data());
  int64_t pos = static_cast<int64_t>(prompt.size());
  int32_t next = argmax(logits);
  forward.set_observer(observer);
  const auto t0 = Clock::now();
  for (int i = 0; i < n_gen; ++i) {
    forward.eval({&next, 1}, pos++, logits.data());
    next = argmax(logits);
  }
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  forward.set_observer(nullptr);
  return n_gen / s;
}

// Paired rounds, the order flipped every round, cancel slow drifts (frequency, other load); the median of the
// per-pair ratios drops the pairs a burst of other work disturbed.
nlohmann::json measure_overhead(Forward& forward, const std::vector<int32_t>& prompt, int n_gen, int rounds,
                                std::vector<float>& logits) {
  std::vector<double> off, on, ratios;
  Recorder sink(Clock::now());
  for (int r = 0; r < rounds; ++r) {
    double off_tps = 0, on_tps = 0;
    for (int half = 0; half < 2; ++half) {
      const bool observed = (half == 0) == (r % 2 == 1);
      sink.ops.clear();
      (observed ? on_tps : off_tps) =
          decode_tokens_per_second(forward, prompt, n_gen, observed ? &sink : nullptr, logits);
    }
    off.push_back(off_tps), on.push_back(on_tps), ratios.push_back(on_tps / off_tps);
  }
  const SampleStats off_stats = summarize(off), on_stats = summarize(on), ratio_stats = summarize(ratios);
  return {{"rounds", rounds},
          {"tokens_per_round", n_gen},
          {"tokens_per_second_off", off_stats.to_json()},
          {"tokens_per_second_on", on_stats.to_json()},
          {"slowdown", 1.0 - ratio_stats.median}};
}

// The prefill step (the whole prompt) and n_gen greedy decode steps, every op recorded.
// prefill_tap, when given, sees every op's output of the prefill step (copied after each op's timing).
std::vector<Step> observed_steps(Forward& forward, const std::vector<int32_t>& prompt, int n_gen,
                                 std::vector<float>& logits, OutputTap* prefill_tap) {
  const auto origin = Clock::now();
  auto since_origin = [&] {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - origin).count();
  };
  Recorder recorder(origin);
  forward.set_observer(&recorder);
  std::vector<Step> steps;
  int64_t pos = 0;
  int32_t next = 0;
  const int64_t n_prompt = static_cast<int64_t>(prompt.size());
  for (int s = 0; s <= n_gen; ++s) {
    const bool prefill = s == 0;
    Step step{prefill ? "prefill" : "decode", s, pos, prefill ? n_prompt : 1, 0, 0, {}};
    recorder.ops.clear();
    step.start_ns = since_origin();
    forward.set_output_tap(prefill ? prefill_tap : nullptr);
    if (prefill)
      forward.eval(prompt, 0, logits.data());
    else
      forward.eval({&next, 1}, pos, logits.data());
    step.end_ns = since_origin();
    pos += step.tokens;
    next = argmax(logits);
    step.ops = std::move(recorder.ops);
    steps.push_back(std::move(step));
  }
  forward.set_observer(nullptr);
  forward.set_output_tap(nullptr);
  return steps;
}

// The summary on stdout, from the run record and the collected totals.
void print_summary(const nlohmann::json& run, const Collector& out) {
  const nlohmann::json& model = run["model"];
  const nlohmann::json& roofs = run["roofs"];
  const int n_prompt = run["n_prompt"].get<int>(), n_gen = run["n_gen"].get<int>();
  const double prefill_ns = run["prefill_ns"].get<double>(), decode_ns = run["decode_ns"].get<double>();
  fmt::print("profile: {} ({}), kernels {}, {} threads\n", model["name"].get<std::string>(),
             model["weight_types"].get<std::string>(), run["kernels"].get<std::string>(),
             run["threads"].get<int>());
  fmt::print("machine roofs: {} (`llamascope machine` shows them), measured {}\n",
             roofs["source"].get<std::string>(), roofs["measured_at"].get<std::string>());
  fmt::print("prefill: {} tokens in {:.3f} ms ({:.1f} tok/s); per-op times cover {:.1f}% of the step\n",
             n_prompt, prefill_ns / 1e6, n_prompt / (prefill_ns * 1e-9), 100 * out.prefill_coverage);
  if (n_gen > 0) {
    const nlohmann::json& coverage = run["decode_coverage"];
    fmt::print(
        "decode: {} steps, {:.3f} ms per token ({:.1f} tok/s); per-op times cover {:.1f}% of each step's "
        "wall "
        "time (median; min {:.1f}%, max {:.1f}%)\n",
        n_gen, decode_ns / 1e6 / n_gen, n_gen / (decode_ns * 1e-9), 100 * coverage["median"].get<double>(),
        100 * coverage["min"].get<double>(), 100 * coverage["max"].get<double>());
  }
  print_op_table("decode, per op", out.decode_totals, out.op_order);
  print_op_table("prefill, per op", out.prefill_totals, out.op_order);
  print_layer_table(out.decode_layer_ns);
  print_overhead(run["overhead"]);
}

// The layer check's verdict: the first (layer, op) out of tolerance, which makes the command fail.
void print_layer_check(const std::vector<LayerComparison>& checks, const std::string& kernels) {
  for (const LayerComparison& c : checks) {
    if (c.pass()) continue;
    fmt::print(
        "\nlayer check [{} vs scalar]: first out of tolerance: layer {} op {} (nmse {:.3e} > {:.0e})\n",
        kernels, c.layer, c.op, c.nmse, c.tolerance);
    command_exit_status() = 1;
    return;
  }
  fmt::print("\nlayer check [{} vs scalar]: all {} op outputs of the prefill within tolerance\n", kernels,
             checks.size());
}

// What the run record and the output files say about the run besides its steps.
struct ProfileRun {
  const std::string& run_id;
  const std::string& model_path;
  const KernelSet& kernels;
  const nlohmann::json& identity;
  const MachineLimits& limits;
  const MachineRoofs& roofs;
  const nlohmann::json& overhead;
};

// The llamascope.profile/1 record: the run as a whole.
nlohmann::json run_record(const ProfileArgs& args, const ProfileRun& p, const Collector& out,
                          const Step& prefill) {
  const SampleStats coverage_stats = summarize(out.decode_coverage);
  const uint64_t prefill_ns = static_cast<uint64_t>(prefill.end_ns - prefill.start_ns);
  const uint64_t decode_wall_ns = out.decode_wall_ns;
  return {{"schema", "llamascope.profile/1"},
          {"run_id", p.run_id},
          {"time", utc_now_iso8601()},
          {"kernels", p.kernels.spec()},
          {"backends", p.kernels.backend_names()},
          {"backend_descriptions", p.kernels.descriptions()},
          {"threads", args.kernels.threads},
          {"n_prompt", args.n_prompt},
          {"n_gen", args.n_gen},
          {"prefill_ns", prefill_ns},
          {"decode_ns", decode_wall_ns},
          {"decode_tokens_per_second", decode_wall_ns ? args.n_gen / (decode_wall_ns * 1e-9) : 0.0},
          {"decode_coverage", args.n_gen > 0 ? coverage_stats.to_json() : nlohmann::json(nullptr)},
          {"prefill_coverage", out.prefill_coverage},
          {"overhead", p.overhead},
          {"machine", p.limits.to_json()},
          {"roofs", p.roofs.to_json()},
          {"model", p.identity},
          {"environment", environment_json()},
          {"repro", fmt::format("{} profile -m {} -k {} -t {} -p {} -n {}", shell_quote(program_path()),
                                shell_quote(p.model_path), shell_quote(p.kernels.spec()),
                                args.kernels.threads, args.n_prompt, args.n_gen)}};
}

// --jsonl and --trace, each written whole or not at all.
void write_profile_files(const ProfileArgs& args, const ProfileRun& p,
                         const std::vector<nlohmann::json>& records, const nlohmann::json& trace) {
  if (!args.jsonl.empty()) {
    std::string text;
    for (const nlohmann::json& r : records) text += r.dump() + "\n";
    write_file_atomically(args.jsonl, text);
  }
  if (!args.trace.empty()) {
    const nlohmann::json doc = {
        {"traceEvents", trace},
        {"displayTimeUnit", "ms"},
        {"otherData", {{"run_id", p.run_id}, {"model", p.model_path}, {"kernels", p.kernels.spec()}}}};
    write_file_atomically(args.trace, doc.dump() + "\n");
  }
}

// --check-layers: the timed prefill's op outputs against the scalar reference's on the same prompt.
std::vector<LayerComparison> check_prefill(const ProfileArgs& args, const Model& model,
                                           const KernelSet& kernels, const std::vector<int32_t>& prompt,
                                           const OutputRecorder& prefill_outputs) {
  const LayerCheckOptions options{kernels.spec(), args.kernels.threads,
                                  kv_type_from_flag(args.kernels.kv_type), true};
  return compare_outputs(reference_outputs(model, prompt, options), prefill_outputs.outputs,
                         layer_tolerance(default_golden_dir(), model.weight_type_summary()));
}

void profile(const ProfileArgs& args) {
  if (args.n_prompt < 1) throw Error("-p: the prompt must have at least 1 token");
  if (args.n_gen < 0) throw Error("-n must be >= 0");
  if (args.overhead_rounds < 0) throw Error("--overhead must be >= 0");
  const std::string model_path = args.model.empty() ? bundled_model_path() : args.model;
  const std::unique_ptr<Model> model = load_model(model_path);
  const ModelConfig& c = model->config;
  const nlohmann::json identity = model_identity(*model);
  const double weight_stream_bytes = identity["weight_bytes"].get<double>();
  MachineRoofs roofs = machine_roofs();
  const MachineLimits limits = machine_limits(roofs, args.bandwidth_gbps, args.peak_gflops);
  apply_given_limits(roofs, args.bandwidth_gbps, args.peak_gflops);
  const std::string run_id = new_run_id();

  KernelSet kernels(args.kernels.kernels, BackendOptions{args.kernels.threads});
  Forward forward(*model, kernels, args.n_prompt + args.n_gen, args.n_prompt,
                  kv_type_from_flag(args.kernels.kv_type));
  const std::vector<int32_t> prompt = random_prompt(*model, args.n_prompt);
  std::vector<float> logits(static_cast<size_t>(c.vocab_size));

  // Warm-up (untimed, unobserved): faults the weights in and lets backends settle.
  forward.eval(prompt, 0, logits.data());

  OutputRecorder prefill_outputs(/*every_op=*/true);
  const std::vector<Step> steps =
      observed_steps(forward, prompt, args.n_gen, logits, args.check_layers ? &prefill_outputs : nullptr);
  std::vector<LayerComparison> layer_checks;
  if (args.check_layers) layer_checks = check_prefill(args, *model, kernels, prompt, prefill_outputs);

  const nlohmann::json overhead =
      args.overhead_rounds > 0 && args.n_gen > 0
          ? measure_overhead(forward, prompt, args.n_gen, args.overhead_rounds, logits)
          : nlohmann::json(nullptr);

  Collector out(kernels, c, roofs, run_id, weight_stream_bytes, args.kernels.threads);
  out.name_trace(identity["name"].get<std::string>(), kernels.spec(), args.kernels.threads);
  for (const Step& step : steps) out.add_step(step);
  std::vector<nlohmann::json>& records = out.records;
  const ProfileRun run_facts{run_id, model_path, kernels, identity, limits, roofs, overhead};
  const nlohmann::json run = run_record(args, run_facts, out, steps.front());
  records.insert(records.begin(), run);
  for (const LayerComparison& check : layer_checks)
    records.push_back(layer_check_record(check, run_id, kernels.spec()));
  write_profile_files(args, run_facts, records, out.trace);
  print_summary(run, out);
  if (args.check_layers) print_layer_check(layer_checks, kernels.spec());
}

}  // namespace

void register_profile_command(CLI::App& app) {
  auto args = std::make_shared<ProfileArgs>();
  auto* cmd = app.add_subcommand(
      "profile", "Per-layer, per-op timings of prefill and decode steps (JSONL, trace, summary)");
  cmd->add_option("-m,--model", args->model, "model (default: the bundled stories260K-f32.gguf)");
  cmd->add_option("-p,--n-prompt", args->n_prompt, "prompt tokens (the prefill step)")->capture_default_str();
  cmd->add_option("-n,--n-gen", args->n_gen, "decode steps")->capture_default_str();
  cmd->add_option("--jsonl", args->jsonl, "write llamascope.profile/1, step/1 and layer/2 records to FILE");
  cmd->add_option("--trace", args->trace, "write a Chrome Trace Event file (Perfetto, chrome://tracing)");
  cmd->add_option("--bandwidth", args->bandwidth_gbps,
                  "memory bandwidth in GB/s (default: measured once, cached)");
  cmd->add_option("--peak-gflops", args->peak_gflops,
                  "FP32 peak in GFLOP/s (default: measured once, cached)");
  cmd->add_option("--overhead", args->overhead_rounds,
                  "also measure decode with per-op timing off and on, alternating, this many rounds each")
      ->capture_default_str();
  cmd->add_flag("--check-layers", args->check_layers,
                "compare the timed prefill's every op output with the scalar reference's (golden layers)");
  add_kernel_flags(*cmd, args->kernels, "");
  cmd->add_option("--ab", args->ab.a,
                  "A/B: kernel set A (commas allowed: one set), run in one process with --vs");
  cmd->add_option("--vs", args->ab.b, "A/B: kernel set B; prints and records B's per-op speed-up over A");
  cmd->add_option("--rounds", args->ab_rounds, "A/B: rounds of prefill + decode steps")
      ->capture_default_str();
  cmd->add_option("--ab-threshold", args->ab_threshold,
                  "A/B: speed-up beyond which an op is faster or slower")
      ->capture_default_str();
  cmd->callback([args, cmd] {
    if (args->ab.enabled())
      run_profile_ab(*args, cmd->get_option("--kernels")->count() > 0);
    else
      profile(*args);
  });
}

}  // namespace llamascope
