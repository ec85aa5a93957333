#include "engine/fault_injection.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string_view>

#include "base/error.h"
#include "engine/model.h"

namespace llamascope {

namespace {

// parse_item(item) for each comma-separated item of spec, in order.
template <typename Rule, typename ParseItem>
std::vector<Rule> parse_comma_list(const std::string& spec, ParseItem parse_item) {
  std::vector<Rule> rules;
  size_t start = 0;
  while (start <= spec.size()) {
    const size_t end = std::min(spec.find(',', start), spec.size());
    rules.push_back(parse_item(spec.substr(start, end - start)));
    start = end + 1;
  }
  return rules;
}

}  // namespace

std::vector<InjectionRule> parse_injection_rules(const std::string& spec, const char* variable) {
  return parse_comma_list<InjectionRule>(spec, [&](const std::string& item) {
    const size_t colon = item.find(':');
    char* tail = nullptr;
    const double fraction = colon == std::string::npos ? 0 : std::strtod(item.c_str() + colon + 1, &tail);
    if (colon == 0 || colon == std::string::npos || tail == item.c_str() + colon + 1 || *tail != '\0' ||
        !(fraction > 0 && fraction <= 10))
      throw Error(std::string(variable) + ": '" + item +
                  "' is not OP:FRACTION with 0 < FRACTION <= 10 (e.g. matmul:0.02)");
    return InjectionRule{item.substr(0, colon), fraction};
  });
}

// The rules in environment variable `variable`, parsed once by the caller's static (none when it is unset
// or empty); said on stderr when there are any, so that a run with injected faults is never mistaken.
template <typename Rule>
std::vector<Rule> rules_from_environment(const char* variable,
                                         std::vector<Rule> (*parse)(const std::string&, const char*)) {
  const char* spec = std::getenv(variable);
  if (!spec || !*spec) return {};
  std::vector<Rule> parsed = parse(spec, variable);
  std::fprintf(stderr, "llamascope: fault injection on: %s=%s\n", variable, spec);
  return parsed;
}

const std::vector<InjectionRule>& slowdown_rules() {
  static const std::vector<InjectionRule> rules =
      rules_from_environment("LLAMASCOPE_INJECT_SLOWDOWN", parse_injection_rules);
  return rules;
}

double slowdown_for(const OpSite& site) {
  // Remembered per op name (the forward passes string literals), so an op pays a pointer compare, not
  // string compares: on a model whose ops take a few hundred ns that difference is visible.
  thread_local std::array<std::pair<const char*, double>, 32> known{};
  thread_local size_t n_known = 0;
  for (size_t i = 0; i < n_known; ++i)
    if (known[i].first == site.name) return known[i].second;
  double fraction = 0;
  for (const InjectionRule& rule : slowdown_rules())
    if (rule.op == site.name || rule.op == op_kind_name(site.kind)) fraction += rule.fraction;
  if (n_known < known.size()) known[n_known++] = {site.name, fraction};
  return fraction;
}

namespace {

// Instructions of one call on the SIMD backend's AVX2 path, modelled as a fixed cost per call plus a cost
// per unit of work, fitted to Callgrind counts of every op call of the bundled stories260K and synth-mini
// F32/Q4_0/Q8_0 models (docs/gate.md, "Fault injection"). A unit: one weight element times one row
// (matmul), one (query, key, head dimension) triple (attention), one element of a row (the rest).
struct CostModel {
  double per_call, per_unit;
};
CostModel cost_model(OpKind kind, TensorType weight_type) {
  switch (kind) {
    case OpKind::matmul:
      return {5400, weight_type == TensorType::Q4_0   ? 0.20
                    : weight_type == TensorType::Q8_0 ? 0.53
                    : weight_type == TensorType::F32  ? 0.60
                                                      : 0.40};
    case OpKind::embed:
      return {2250, weight_type == TensorType::Q4_0 ? 8.6 : weight_type == TensorType::Q8_0 ? 3.1 : 0.6};
    case OpKind::attention:
      return {4800, 2.36};
    case OpKind::rmsnorm:
      return {2300, 1.47};
    case OpKind::rope:
      return {2400, 9.9};
    case OpKind::swiglu:
      return {2350, 3.4};
    case OpKind::add:
      return {2240, 0.91};
    default:
      return {2300, 1.0};
  }
}

// Rows the op processes: the output norm and matrix run on the last token only.
int64_t rows_of(const OpSite& s) {
  const std::string_view name = s.name;
  return s.layer < 0 && (name == "output_norm" || name == "output") ? 1 : s.batch;
}

// A dependent multiply-add chain the compiler cannot remove or vectorise: a fixed number of
// instructions per iteration (kLoopInstructions: multiply, add, increment, compare, branch; 5 under
// Callgrind).
constexpr double kLoopInstructions = 5;
[[gnu::noinline]] uint64_t spin(uint64_t iterations, uint64_t x) {
  for (uint64_t i = 0; i < iterations; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    asm volatile("" : "+r"(x));
  }
  return x;
}

volatile uint64_t g_sink;

// Loop iterations per ns on this machine: the best of five runs of ~1 ms (the least disturbed one).
double spin_iterations_per_ns() {
  static const double rate = [] {
    using Clock = std::chrono::steady_clock;
    constexpr uint64_t kIterations = 1 << 18;
    double best = 0;
    for (int i = 0; i < 5; ++i) {
      const auto start = Clock::now();
      g_sink = spin(kIterations, g_sink);
      const double ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count();
      best = std::max(best, kIterations / std::max(ns, 1.0));
    }
    return best;
  }();
  return rate;
}

}  // namespace

double estimated_op_instructions(const OpSite& s) {
  const ModelConfig& c = *s.config;
  const double n = static_cast<double>(rows_of(s));
  double units = 0;
  switch (s.kind) {
    case OpKind::matmul:
      for (const Weight* w : s.weights)
        units += n * static_cast<double>(w->rows) * static_cast<double>(w->cols);
      break;
    case OpKind::attention: {
      const double pairs = n * static_cast<double>(s.pos0) + n * (n + 1) / 2;
      units = pairs * c.n_heads * c.head_dim;
      break;
    }
    case OpKind::rope:
      units = n * (c.q_dim() + c.kv_dim());
      break;
    case OpKind::swiglu:
      units = n * c.hidden_dim;
      break;
    default:
      units = n * c.dim;
      break;
  }
  const CostModel m = cost_model(s.kind, s.weights.empty() ? TensorType::F32 : s.weights.front()->type);
  return m.per_call + m.per_unit * units;
}

void run_with_slowdown(const OpSite& site, double fraction, void (*call)(void*), void* fn,
                       bool under_valgrind) {
  if (fraction <= 0) {
    call(fn);
    return;
  }
  if (under_valgrind) {  // deterministic: a fixed instruction count from the op's shapes
    call(fn);
    g_sink =
        spin(static_cast<uint64_t>(fraction * estimated_op_instructions(site) / kLoopInstructions), g_sink);
    return;
  }
  // Natively: the loop runs for fraction x the op's time, as an iteration count from a rate measured
  // once, so no clock is read while it runs (a read costs tens of ns: a share of a small op).
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  call(fn);
  const double ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count();
  g_sink = spin(static_cast<uint64_t>(fraction * ns * spin_iterations_per_ns()), g_sink);
}

std::vector<OutputFault> parse_output_faults(const std::string& spec, const char* variable) {
  return parse_comma_list<OutputFault>(spec, [&](const std::string& item) {
    const auto bad = [&] {
      return Error(
          std::string(variable) + ": '" + item +
          "' is not OP:LAYER[:SIZE] with an op name, a layer >= -1 and 0 < SIZE <= 100 (e.g. ffn_down:7)");
    };
    const size_t colon = item.find(':');
    if (colon == 0 || colon == std::string::npos) throw bad();
    OutputFault f;
    f.op = item.substr(0, colon);
    char* tail = nullptr;
    const long layer = std::strtol(item.c_str() + colon + 1, &tail, 10);
    if (tail == item.c_str() + colon + 1 || layer < -1 || layer > 1000000) throw bad();
    f.layer = static_cast<int>(layer);
    if (*tail == ':') {
      const char* size_text = tail + 1;
      f.size = std::strtod(size_text, &tail);
      if (tail == size_text || !(f.size > 0 && f.size <= 100)) throw bad();
    }
    if (*tail != '\0') throw bad();
    return f;
  });
}

const std::vector<OutputFault>& output_faults() {
  static const std::vector<OutputFault> faults =
      rules_from_environment("LLAMASCOPE_INJECT_FAULT", parse_output_faults);
  return faults;
}

bool perturb_output(const char* name, int layer, std::span<float> values) {
  bool perturbed = false;
  for (const OutputFault& f : output_faults()) {
    if (f.layer != layer || f.op != name || values.empty()) continue;
    double sum_sq = 0;
    for (float v : values) sum_sq += double(v) * v;
    const double rms = std::sqrt(sum_sq / static_cast<double>(values.size()));
    // The same noise on every run and backend: seeded by the fault, not by time.
    std::mt19937 rng(
        static_cast<uint32_t>(std::hash<std::string>{}(f.op) * 31 + static_cast<size_t>(layer + 1)));
    std::normal_distribution<double> noise(0.0, f.size * (rms > 0 ? rms : 1.0));
    for (float& v : values) v = static_cast<float>(v + noise(rng));
    perturbed = true;
  }
  return perturbed;
}

}  // namespace llamascope
