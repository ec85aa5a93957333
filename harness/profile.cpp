// `llamascope profile`: where the time of a forward step goes, per layer and op. An observer on the forward
// records every op (wall time, backend synchronised around it); bytes moved and FLOPs per op follow from the
// op's shapes (op_cost in harness/records.h, documented in docs/results.md). Writes llamascope.profile/1 (the
// run), llamascope.step/1 (one per forward step) and llamascope.layer/2 (one per op) records, an optional
// Chrome Trace Event file (steps > layers > ops as nested slices), and a summary on stdout: time share per op
// and per layer, achieved GB/s and GFLOP/s against this machine's limits, and how much of each step's wall
// time the per-op times cover. --overhead measures what the per-op timing itself costs.
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
#include "harness/commands.h"
#include "harness/common.h"
#include "harness/environment.h"
#include "harness/records.h"

namespace llamascope {

std::string bundled_model_path();  // bench.cpp

namespace {

using Clock = std::chrono::steady_clock;

struct ProfileArgs {
  std::string model;
  KernelFlags kernels;
  int n_prompt = 128;
  int n_gen = 32;
  std::string jsonl;
  std::string trace;
  double bandwidth_gbps = 0;
  double peak_gflops = 0;
  int overhead_rounds = 0;
};

// One op as the observer saw it, with when it ended (ns since the profile started).
struct OpRecord {
  OpEvent event;
  int64_t end_ns = 0;
  int64_t start_ns() const { return end_ns - static_cast<int64_t>(event.ns); }
};

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

struct Step {
  const char* phase;  // "prefill" or "decode"
  int index;
  int64_t pos0;
  int64_t tokens;
  int64_t start_ns, end_ns;
  std::vector<OpRecord> ops;
  uint64_t op_ns() const {
    uint64_t sum = 0;
    for (const OpRecord& o : ops) sum += o.event.ns;
    return sum;
  }
};

// The weights of an op as the layer record shows them. A grouped matmul (attn_qkv, ffn_gate_up) is a
// matmul by its weights stacked into one matrix: names joined with ",", the shared type (else the types
// joined with ","), and the stacked shape [sum of rows, cols].
struct WeightFields {
  nlohmann::json name, type, shape;
};
WeightFields weight_fields(const OpEvent& e) {
  const auto weights = e.weights();
  if (weights.empty()) return {nullptr, nullptr, nullptr};
  std::string names, types;
  int64_t rows = 0;
  bool one_type = true;
  for (const Weight* w : weights) {
    names += (names.empty() ? "" : ",") + w->name;
    types += std::string(types.empty() ? "" : ",") + type_name(w->type);
    one_type = one_type && w->type == weights.front()->type;
    rows += w->rows;
  }
  return {names, one_type ? std::string(type_name(weights.front()->type)) : types,
          nlohmann::json::array({rows, weights.front()->cols})};
}

int64_t op_rows(const OpEvent& e) {
  const std::string name = e.op;
  return e.layer < 0 && (name == "output_norm" || name == "output") ? 1 : e.batch;
}

int32_t greedy(const std::vector<float>& logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

std::vector<int32_t> make_prompt(const Model& model, int n) {
  const int vocab = model.config.vocab_size;
  const int32_t bos = model.tokenizer && model.tokenizer->vocab().bos >= 0 ? model.tokenizer->vocab().bos : 1;
  std::vector<int32_t> prompt(static_cast<size_t>(n));
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int32_t> pick(0, vocab - 1);
  for (int32_t& t : prompt) t = pick(rng);
  if (!prompt.empty()) prompt[0] = std::min(bos, vocab - 1);
  return prompt;
}

// Decode tokens/s with the observer attached or not: prefill (untimed), then n_gen timed single-token steps.
double decode_tokens_per_second(Forward& forward, const std::vector<int32_t>& prompt, int n_gen,
                                OpObserver* observer, std::vector<float>& logits) {
  forward.set_observer(nullptr);
  forward.eval(prompt, 0, logits.data());
  int64_t pos = static_cast<int64_t>(prompt.size());
  int32_t next = greedy(logits);
  forward.set_observer(observer);
  const auto t0 = Clock::now();
  for (int i = 0; i < n_gen; ++i) {
    forward.eval({&next, 1}, pos++, logits.data());
    next = greedy(logits);
  }
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  forward.set_observer(nullptr);
  return n_gen / s;
}

nlohmann::json trace_event(const std::string& name, const char* category, int64_t start_ns, int64_t dur_ns,
                           nlohmann::json args = nlohmann::json::object()) {
  return {{"name", name},
          {"cat", category},
          {"ph", "X"},
          {"pid", 1},
          {"tid", 1},
          {"ts", start_ns / 1000.0},
          {"dur", dur_ns / 1000.0},
          {"args", std::move(args)}};
}

// Per-op totals for the summary.
struct OpTotals {
  uint64_t ns = 0;
  double bytes = 0, flops = 0;
  int calls = 0;
};

void print_op_table(const char* title, const std::map<std::string, OpTotals>& totals,
                    const std::vector<std::string>& order, const MachineLimits& limits) {
  uint64_t all = 0;
  for (const auto& [name, t] : totals) all += t.ns;
  if (all == 0) return;
  fmt::print("\n{} (all layers):\n", title);
  fmt::print("{:<12} {:>6} {:>11} {:>7} {:>9} {:>9} {:>7} {:>7}\n", "op", "calls", "total ms", "share",
             "GB/s", "GFLOP/s", "of BW", "of peak");
  for (const std::string& name : order) {
    const auto it = totals.find(name);
    if (it == totals.end()) continue;
    const OpTotals& t = it->second;
    const double s = t.ns * 1e-9;
    const double gbps = t.bytes / s / 1e9, gflops = t.flops / s / 1e9;
    fmt::print("{:<12} {:>6} {:>11.3f} {:>6.1f}% {:>9.2f} {:>9.2f} {:>6.1f}% {:>6.1f}%\n", name, t.calls,
               t.ns / 1e6, 100.0 * t.ns / all, gbps, gflops, 100 * gbps / limits.bandwidth_gbps,
               100 * gflops / limits.peak_gflops);
  }
  // The op furthest from both limits among those that matter (>= 2 % of the time).
  std::string worst;
  double worst_fraction = 2;
  for (const auto& [name, t] : totals) {
    if (t.ns < all / 50) continue;
    const double s = t.ns * 1e-9;
    const double fraction =
        std::max(t.bytes / s / 1e9 / limits.bandwidth_gbps, t.flops / s / 1e9 / limits.peak_gflops);
    if (fraction < worst_fraction) worst_fraction = fraction, worst = name;
  }
  if (!worst.empty())
    fmt::print(
        "furthest from the machine's limits: {} at {:.1f}% of the nearer limit (bandwidth or FLOP peak)\n",
        worst, 100 * worst_fraction);
}

void profile(const ProfileArgs& args) {
  if (args.n_prompt < 1) throw Error("-p: the prompt must have at least 1 token");
  if (args.n_gen < 0) throw Error("-n must be >= 0");
  if (args.overhead_rounds < 0) throw Error("--overhead must be >= 0");
  const std::string model_path = args.model.empty() ? bundled_model_path() : args.model;
  const std::unique_ptr<Model> model = load_model(model_path);
  const ModelConfig& c = model->config;
  const nlohmann::json identity = model_identity(*model);
  const MachineLimits limits = machine_limits(args.bandwidth_gbps, args.peak_gflops);
  const std::string run_id = new_run_id();

  KernelSet kernels(args.kernels.kernels, BackendOptions{args.kernels.threads});
  Forward forward(*model, kernels, args.n_prompt + args.n_gen, args.n_prompt,
                  kv_type_from_flag(args.kernels.kv_type));
  const std::vector<int32_t> prompt = make_prompt(*model, args.n_prompt);
  std::vector<float> logits(static_cast<size_t>(c.vocab_size));

  // Warm-up (untimed, unobserved): faults the weights in and lets backends settle.
  forward.eval(prompt, 0, logits.data());

  const auto origin = Clock::now();
  auto since_origin = [&] {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - origin).count();
  };
  Recorder recorder(origin);
  forward.set_observer(&recorder);
  std::vector<Step> steps;
  int64_t pos = 0;
  int32_t next = 0;
  for (int s = 0; s <= args.n_gen; ++s) {
    const bool prefill = s == 0;
    Step step{prefill ? "prefill" : "decode", s, pos, prefill ? args.n_prompt : 1, 0, 0, {}};
    recorder.ops.clear();
    step.start_ns = since_origin();
    if (prefill)
      forward.eval(prompt, 0, logits.data());
    else
      forward.eval({&next, 1}, pos, logits.data());
    step.end_ns = since_origin();
    pos += step.tokens;
    next = greedy(logits);
    step.ops = std::move(recorder.ops);
    steps.push_back(std::move(step));
  }
  forward.set_observer(nullptr);

  nlohmann::json overhead = nullptr;
  if (args.overhead_rounds > 0 && args.n_gen > 0) {
    // Paired rounds, the order flipped every round, cancel slow drifts (frequency, other load); the median
    // of the per-pair ratios drops the pairs a burst of other work disturbed.
    std::vector<double> off, on, ratios;
    Recorder sink(Clock::now());
    for (int r = 0; r < args.overhead_rounds; ++r) {
      double off_tps = 0, on_tps = 0;
      for (int half = 0; half < 2; ++half) {
        const bool observed = (half == 0) == (r % 2 == 1);
        sink.ops.clear();
        (observed ? on_tps : off_tps) =
            decode_tokens_per_second(forward, prompt, args.n_gen, observed ? &sink : nullptr, logits);
      }
      off.push_back(off_tps), on.push_back(on_tps), ratios.push_back(on_tps / off_tps);
    }
    const SampleStats off_stats = summarize(off), on_stats = summarize(on), ratio_stats = summarize(ratios);
    overhead = {{"rounds", args.overhead_rounds},
                {"tokens_per_round", args.n_gen},
                {"tokens_per_second_off", off_stats.to_json()},
                {"tokens_per_second_on", on_stats.to_json()},
                {"slowdown", 1.0 - ratio_stats.median}};
  }

  // ---- records ----
  std::map<std::pair<int, int>, std::string> backend_of;  // (op kind, type) -> backend name
  auto backend_of_type = [&](OpKind kind, TensorType type) {
    auto key = std::make_pair(static_cast<int>(kind), static_cast<int>(type));
    auto it = backend_of.find(key);
    if (it == backend_of.end()) it = backend_of.emplace(key, kernels.for_op(kind, type).name()).first;
    return it->second;
  };
  // The backend that ran the op; a grouped matmul split over backends names each ("simd,scalar").
  auto backend_name = [&](const OpEvent& e) {
    if (e.n_weights == 0) return backend_of_type(e.kind, TensorType::F32);
    std::string names;
    for (const Weight* w : e.weights()) {
      const std::string& name = backend_of_type(e.kind, w->type);
      if (names.find(name) == std::string::npos) names += (names.empty() ? "" : ",") + name;
    }
    return names;
  };

  std::vector<nlohmann::json> records;
  nlohmann::json trace = nlohmann::json::array();
  trace.push_back({{"name", "process_name"},
                   {"ph", "M"},
                   {"pid", 1},
                   {"tid", 1},
                   {"args", {{"name", "llamascope profile: " + identity["name"].get<std::string>()}}}});
  trace.push_back(
      {{"name", "thread_name"},
       {"ph", "M"},
       {"pid", 1},
       {"tid", 1},
       {"args",
        {{"name", fmt::format("forward (kernels {}, {} threads)", kernels.spec(), args.kernels.threads)}}}});

  std::map<std::string, OpTotals> decode_totals, prefill_totals;
  std::map<int, uint64_t> decode_layer_ns;
  std::vector<std::string> op_order;
  std::vector<double> decode_coverage;
  double prefill_coverage = 0;
  uint64_t decode_wall_ns = 0;

  for (const Step& step : steps) {
    const uint64_t wall = static_cast<uint64_t>(step.end_ns - step.start_ns);
    const uint64_t op_ns = step.op_ns();
    const double coverage = wall ? static_cast<double>(op_ns) / wall : 0;
    if (step.index == 0)
      prefill_coverage = coverage;
    else
      decode_coverage.push_back(coverage), decode_wall_ns += wall;
    records.push_back({{"schema", "llamascope.step/1"},
                       {"run_id", run_id},
                       {"phase", step.phase},
                       {"step", step.index},
                       {"pos0", step.pos0},
                       {"tokens", step.tokens},
                       {"ns", wall},
                       {"op_ns", op_ns},
                       {"coverage", coverage},
                       {"start_ns", step.start_ns}});
    trace.push_back(trace_event(fmt::format("{} step {} ({} tokens)", step.phase, step.index, step.tokens),
                                "step", step.start_ns, step.end_ns - step.start_ns,
                                {{"pos0", step.pos0}, {"op_ns", op_ns}, {"coverage", coverage}}));
    int current_layer = -2;
    int64_t layer_start = 0, layer_end = 0;
    auto close_layer = [&] {
      if (current_layer >= 0)
        trace.push_back(trace_event(fmt::format("layer {}", current_layer), "layer", layer_start,
                                    layer_end - layer_start, {{"layer", current_layer}}));
    };
    for (const OpRecord& o : step.ops) {
      const OpEvent& e = o.event;
      const int64_t rows = op_rows(e);
      const OpCost cost = op_cost(e.kind, e.weights(), rows, e.pos0, e.n_keys, c);
      const WeightFields weight = weight_fields(e);
      records.push_back({{"schema", "llamascope.layer/2"},
                         {"run_id", run_id},
                         {"phase", step.phase},
                         {"step", step.index},
                         {"pos0", e.pos0},
                         {"batch", e.batch},
                         {"rows", rows},
                         {"layer", e.layer},
                         {"op", e.op},
                         {"op_kind", op_kind_name(e.kind)},
                         {"backend", backend_name(e)},
                         {"weight_name", weight.name},
                         {"weight_type", weight.type},
                         {"weight_shape", weight.shape},
                         {"n_keys", e.n_keys},
                         {"ns", e.ns},
                         {"clock", e.clock},
                         {"bytes", cost.bytes},
                         {"flops", cost.flops},
                         {"start_ns", o.start_ns()}});
      if (e.layer != current_layer) {
        close_layer();
        current_layer = e.layer;
        layer_start = o.start_ns();
      }
      layer_end = o.end_ns;
      trace.push_back(
          trace_event(e.op, "op", o.start_ns(), static_cast<int64_t>(e.ns),
                      {{"layer", e.layer},
                       {"bytes", cost.bytes},
                       {"flops", cost.flops},
                       {"weight_type", weight.type.is_null() ? nlohmann::json("-") : weight.type}}));
      OpTotals& t = (step.index == 0 ? prefill_totals : decode_totals)[e.op];
      t.ns += e.ns, t.bytes += cost.bytes, t.flops += cost.flops, ++t.calls;
      if (step.index > 0) decode_layer_ns[e.layer] += e.ns;
      if (std::find(op_order.begin(), op_order.end(), e.op) == op_order.end()) op_order.push_back(e.op);
    }
    close_layer();
  }

  const SampleStats coverage_stats = summarize(decode_coverage);
  const uint64_t prefill_ns = static_cast<uint64_t>(steps.front().end_ns - steps.front().start_ns);
  nlohmann::json run = {
      {"schema", "llamascope.profile/1"},
      {"run_id", run_id},
      {"time", utc_now_iso8601()},
      {"kernels", kernels.spec()},
      {"backends", kernels.backend_names()},
      {"backend_descriptions", kernels.descriptions()},
      {"threads", args.kernels.threads},
      {"n_prompt", args.n_prompt},
      {"n_gen", args.n_gen},
      {"prefill_ns", prefill_ns},
      {"decode_ns", decode_wall_ns},
      {"decode_tokens_per_second", decode_wall_ns ? args.n_gen / (decode_wall_ns * 1e-9) : 0.0},
      {"decode_coverage", args.n_gen > 0 ? coverage_stats.to_json() : nlohmann::json(nullptr)},
      {"prefill_coverage", prefill_coverage},
      {"overhead", overhead},
      {"machine", limits.to_json()},
      {"model", identity},
      {"environment", environment_json()},
      {"repro", fmt::format("{} profile -m {} -k {} -t {} -p {} -n {}", shell_quote(program_path()),
                            shell_quote(model_path), shell_quote(kernels.spec()), args.kernels.threads,
                            args.n_prompt, args.n_gen)}};
  records.insert(records.begin(), run);

  if (!args.jsonl.empty()) {
    std::string text;
    for (const nlohmann::json& r : records) text += r.dump() + "\n";
    write_file_atomically(args.jsonl, text);
  }
  if (!args.trace.empty()) {
    const nlohmann::json doc = {
        {"traceEvents", trace},
        {"displayTimeUnit", "ms"},
        {"otherData", {{"run_id", run_id}, {"model", model_path}, {"kernels", kernels.spec()}}}};
    write_file_atomically(args.trace, doc.dump() + "\n");
  }

  // ---- summary ----
  fmt::print("profile: {} ({}), kernels {}, {} threads\n", identity["name"].get<std::string>(),
             identity["weight_types"].get<std::string>(), kernels.spec(), args.kernels.threads);
  fmt::print("machine limits: {:.1f} GB/s memory bandwidth ({}), {:.1f} GFLOP/s FP32 peak ({})\n",
             limits.bandwidth_gbps, limits.bandwidth_source, limits.peak_gflops, limits.peak_source);
  fmt::print("prefill: {} tokens in {:.3f} ms ({:.1f} tok/s); per-op times cover {:.1f}% of the step\n",
             args.n_prompt, prefill_ns / 1e6, args.n_prompt / (prefill_ns * 1e-9), 100 * prefill_coverage);
  if (args.n_gen > 0)
    fmt::print(
        "decode: {} steps, {:.3f} ms per token ({:.1f} tok/s); per-op times cover {:.1f}% of each step's "
        "wall "
        "time (median; min {:.1f}%, max {:.1f}%)\n",
        args.n_gen, decode_wall_ns / 1e6 / args.n_gen, args.n_gen / (decode_wall_ns * 1e-9),
        100 * coverage_stats.median, 100 * coverage_stats.min, 100 * coverage_stats.max);
  print_op_table("decode, per op", decode_totals, op_order, limits);
  print_op_table("prefill, per op", prefill_totals, op_order, limits);
  if (!decode_layer_ns.empty()) {
    uint64_t all = 0;
    for (const auto& [layer, ns] : decode_layer_ns) all += ns;
    fmt::print("\ndecode, per layer:\n{:<8} {:>11} {:>7}\n", "layer", "total ms", "share");
    for (const auto& [layer, ns] : decode_layer_ns)
      fmt::print("{:<8} {:>11.3f} {:>6.1f}%\n", layer < 0 ? std::string("outside") : std::to_string(layer),
                 ns / 1e6, 100.0 * ns / all);
  }
  if (!overhead.is_null())
    fmt::print(
        "\nprofiling overhead: decode {:.2f} tok/s with per-op timing off, {:.2f} on (medians of {} rounds): "
        "{:.2f}% slower (median of the paired rounds' ratios)\n",
        overhead["tokens_per_second_off"]["median"].get<double>(),
        overhead["tokens_per_second_on"]["median"].get<double>(), args.overhead_rounds,
        100 * overhead["slowdown"].get<double>());
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
  add_kernel_flags(*cmd, args->kernels, "");
  cmd->callback([args] { profile(*args); });
}

}  // namespace llamascope
