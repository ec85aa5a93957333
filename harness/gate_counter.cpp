// `llamascope gate --counter instructions`: both builds run the bench under Callgrind with per-op markers
// (engine/op_hooks.h: counters zeroed before each op, dumped after it, the dump named by the op), so
// every instruction and simulated cache miss is charged to the op that caused it. Counts do not depend
// on the machine's load, so an A/A run gives identical numbers and any difference is the code's.
// Estimated cycles, the compared value: Ir + 10 x L1 misses + 100 x LL misses (docs/gate.md).
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>

#include "base/error.h"
#include "harness/common.h"
#include "harness/gate_modes.h"
#include "harness/subprocess.h"

namespace llamascope::gate {

namespace {

// Fixed simulated caches (a common x86 shape), so counts do not depend on the host's cache sizes.
const std::vector<std::string> kValgrind = {"valgrind",
                                            "--tool=callgrind",
                                            "--cache-sim=yes",
                                            "--I1=32768,8,64",
                                            "--D1=32768,8,64",
                                            "--LL=8388608,16,64",
                                            "--dump-instr=no",
                                            "--dump-line=no",
                                            "--combine-dumps=yes",
                                            "--collect-systime=no"};
constexpr double kL1MissCycles = 10, kLLMissCycles = 100;

struct Counts {
  double ir = 0, l1_misses = 0, ll_misses = 0, calls = 0;
  std::vector<double> call_cycles;  // each call's estimated cycles, in run order
  double cycles() const { return ir + kL1MissCycles * l1_misses + kLLMissCycles * ll_misses; }
};

struct SideResult {
  nlohmann::json model;                 // the bench record's model identity
  std::map<std::string, Counts> by_op;  // "phase|op" -> summed counts
};

void add_counts(Counts& c, const std::vector<std::string>& events, const std::string& values_text) {
  std::istringstream values(values_text);
  Counts call;
  for (const std::string& e : events) {
    double v = 0;
    values >> v;  // trailing zero counts are left out of the line
    if (e == "Ir") call.ir += v;
    if (e == "I1mr" || e == "D1mr" || e == "D1mw") call.l1_misses += v;
    if (e == "ILmr" || e == "DLmr" || e == "DLmw") call.ll_misses += v;
  }
  c.ir += call.ir, c.l1_misses += call.l1_misses, c.ll_misses += call.ll_misses, c.calls += 1;
  c.call_cycles.push_back(call.cycles());
}

// Sums the parts of a combined Callgrind output: each op's part (named by its marker) to the op and its
// kind, the parts between ops (and the whole run of a build without markers) to "(outside ops)", and
// everything to "(whole program)", the one series two builds always share.
std::map<std::string, Counts> parse_callgrind(const std::string& path, bool by_layer) {
  std::ifstream in(path);
  if (!in) throw Error(path + ": Callgrind wrote no output");
  std::map<std::string, Counts> out;
  std::vector<std::string> events;
  std::string line, label;
  while (std::getline(in, line)) {
    if (line.rfind("desc: Trigger: ", 0) == 0) {
      label = line.substr(15);
    } else if (line.rfind("events: ", 0) == 0) {
      std::istringstream names(line.substr(8));
      events.clear();
      for (std::string e; names >> e;) events.push_back(e);
    } else if (line.rfind("summary: ", 0) == 0) {
      const std::string values = line.substr(9);
      add_counts(out["run|(whole program)"], events, values);
      const std::string marker = "Client Request: op=";
      if (label.rfind(marker, 0) != 0) {
        add_counts(out["run|(outside ops)"], events, values);
        continue;
      }
      char name[64] = {}, kind[32] = {};
      int layer = 0;
      long long batch = 0;
      if (std::sscanf(label.c_str() + marker.size() - 3, "op=%63s kind=%31s layer=%d batch=%lld", name, kind,
                      &layer, &batch) != 4)
        throw Error(path + ": unreadable op marker '" + label + "'");
      std::string op = name;
      if (by_layer && layer >= 0) op += fmt::format(" L{}", layer);
      const std::string phase = batch > 1 ? "prefill" : "decode";
      add_counts(out[phase + "|" + op], events, values);
      add_counts(out[phase + "|all " + kind + " ops"], events, values);
    }
  }
  if (out.empty()) throw Error(path + ": no counts in Callgrind's output");
  if (out.size() == 2) out.erase("run|(outside ops)");  // a build without op markers: all of it is outside
  return out;
}

SideResult count_side(const GateArgs& args, const std::string& binary, const std::string& kernels,
                      const std::string& model, const std::vector<std::string>& extra_env,
                      const std::string& dir) {
  GateArgs one = args;
  one.models = model, one.threads = "1", one.repetitions = "1", one.warmup = "0";
  one.n_prompt = args.n_prompt.empty() ? "16" : args.n_prompt;
  one.n_gen = args.n_gen.empty() ? "8" : args.n_gen;
  std::vector<std::string> argv = kValgrind;
  const std::string out_file = dir + "/callgrind.out";
  argv.push_back("--callgrind-out-file=" + out_file);
  for (const std::string& a : bench_argv(one, binary, kernels)) argv.push_back(a);
  std::vector<std::string> env = {"LLAMASCOPE_SIMD_ISA=avx2", "LLAMASCOPE_CALLGRIND_OPS=1"};
  env.insert(env.end(), extra_env.begin(), extra_env.end());
  const ProcessResult r = run_process(argv, env);
  if (r.status != 0) {
    std::string err = r.err;
    while (!err.empty() && err.back() == '\n') err.pop_back();
    throw Error(fmt::format("{} under Callgrind exited with status {}: {}", binary, r.status,
                            err.substr(err.rfind('\n') + 1)));
  }
  SideResult side;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.is_object() && j.contains("model")) side.model = j["model"];
  }
  if (side.model.is_null()) throw Error(binary + " bench under Callgrind wrote no record");
  side.by_op = parse_callgrind(out_file, args.by_layer);
  return side;
}

void add_series(SeriesMap& into, const SideResult& side, const std::string& kernels,
                const std::string& tests) {
  std::map<std::string, Counts> totals;
  for (const auto& [phase_op, c] : side.by_op) {
    // Kind totals and the run-wide series are already sums.
    if (phase_op.find("|all ") != std::string::npos || phase_op.rfind("run|", 0) == 0) continue;
    Counts& t = totals[phase_op.substr(0, phase_op.find('|')) + "|(all ops)"];
    t.ir += c.ir, t.l1_misses += c.l1_misses, t.ll_misses += c.ll_misses, t.calls += c.calls;
    t.call_cycles.insert(t.call_cycles.end(), c.call_cycles.begin(), c.call_cycles.end());
  }
  const std::map<std::string, Counts>* maps[] = {&side.by_op, &totals};
  for (const auto* m : maps)
    for (const auto& [phase_op, c] : *m) {
      const size_t bar = phase_op.find('|');
      const std::string phase = phase_op.substr(0, bar), op = phase_op.substr(bar + 1);
      const std::string key =
          fmt::format("{}|{}|1|{}|{}", side.model.value("sha256", ""), kernels, phase, op);
      const std::string benchmark =
          fmt::format("{} {} t=1 {} ({})", side.model.value("name", ""), kernels, phase, tests);
      into[key] = Series{benchmark, op, "cycles (est.)", {c.cycles()}, true};
      into[key + "|ir"] = Series{benchmark, op, "instructions", {c.ir}, true};
      into[key + "|calls"] = Series{benchmark, op, "calls", {c.calls}, true};
      into[key + "|call_cycles"] = Series{benchmark, op, "cycles (est.) per call", c.call_cycles, true};
    }
}

// The simulated caches see every shift of code and data addresses, so a change elsewhere (a harness change,
// the injected loop's own code) moves an op's misses with not one instruction more: measured, a harness-only
// change moved the first decode step's matmuls by about 56 L1 misses a call (the step after prefill, whose
// cache state depends on where prefill's buffers landed; every later call identical) and embed, which runs
// right after the harness's own code each step, by 4-5 LL misses every call. So a change whose instructions
// moved by less than a quarter of the threshold counts only when its typical call moved (the median of the
// call-by-call differences, both runs calling the ops in the same order) by at least kCacheOnlyFloor
// (about 10 LL misses) and the whole by kCacheOnlyTotal. The other way round, instructions up by more than
// the threshold are a regression on their own.
constexpr double kCacheOnlyFloor = 1000, kCacheOnlyTotal = 2000;

// The compared series: estimated cycles, not the instruction counts and call counts judge_counts reads.
bool is_cycles_series(const std::string& key) {
  return key.find("|ir") == std::string::npos && key.find("|calls") == std::string::npos &&
         key.find("|call_cycles") == std::string::npos;
}

// The median of the call-by-call differences, or the difference of the per-call means when the two runs
// called the op a different number of times.
double typical_call_change(const Series* base_calls, const Series* cand_calls, double total, double calls) {
  if (base_calls && cand_calls && !base_calls->samples.empty() &&
      base_calls->samples.size() == cand_calls->samples.size()) {
    std::vector<double> diffs(base_calls->samples.size());
    for (size_t i = 0; i < diffs.size(); ++i) diffs[i] = cand_calls->samples[i] - base_calls->samples[i];
    std::nth_element(diffs.begin(), diffs.begin() + diffs.size() / 2, diffs.end());
    return diffs[diffs.size() / 2];
  }
  return total / std::max(1.0, calls);
}

void judge_counts(Comparison& c, const SeriesMap& base, const SeriesMap& cand, double threshold) {
  const auto bi = base.find(c.key + "|ir"), ci = cand.find(c.key + "|ir"),
             calls = base.find(c.key + "|calls");
  if (bi == base.end() || ci == cand.end() || calls == base.end()) return;
  const double ir_ratio = ci->second.samples[0] / bi->second.samples[0];
  c.note = fmt::format("instructions {:+.2f}%", (ir_ratio - 1) * 100);
  if (c.verdict == "unchanged" && ir_ratio > 1 + threshold) {
    // More instructions beyond the threshold is a regression even where misses dominate the cycles.
    c.verdict = "regression";
    return;
  }
  const double total = c.candidate.samples[0] - c.baseline.samples[0];
  const auto bc = base.find(c.key + "|call_cycles"), cc = cand.find(c.key + "|call_cycles");
  const double typical =
      typical_call_change(bc == base.end() ? nullptr : &bc->second, cc == cand.end() ? nullptr : &cc->second,
                          total, calls->second.samples[0]);
  if (c.verdict != "unchanged" && std::fabs(ir_ratio - 1) < threshold / 4 &&
      (std::fabs(typical) < kCacheOnlyFloor || std::fabs(total) < kCacheOnlyTotal)) {
    c.verdict = "unchanged";
    c.note += fmt::format("; cache-only change of {:+.0f} cycles (typical call {:+.0f}), under the floor",
                          total, typical);
  }
}

}  // namespace

std::vector<Comparison> run_counted(const GateArgs& args, const GateOptions& options,
                                    std::string& mode_line) {
  if (args.candidate.empty())
    throw Error("--run BINARY needs --candidate BINARY (give the same one for A/A)");
  if (run_process({"valgrind", "--version"}).status != 0)
    throw Error("valgrind does not run (apt-get install valgrind)");
  const std::string kernels = args.kernels.empty() ? default_kernel_set() : args.kernels;
  std::vector<std::string> models;
  std::stringstream list(args.models);
  for (std::string m; std::getline(list, m, ',');) models.push_back(m);
  if (models.empty()) models.push_back("");  // bench's bundled model
  const std::filesystem::path tmp =
      std::filesystem::temp_directory_path() / fmt::format("llamascope-gate-{}", static_cast<long>(getpid()));
  SeriesMap base, cand;
  const std::string tests = fmt::format("p{} n{}", args.n_prompt.empty() ? "16" : args.n_prompt,
                                        args.n_gen.empty() ? "8" : args.n_gen);
  for (size_t i = 0; i < models.size(); ++i) {
    const std::string a_dir = (tmp / fmt::format("a{}", i)).string(),
                      b_dir = (tmp / fmt::format("b{}", i)).string();
    std::filesystem::create_directories(a_dir), std::filesystem::create_directories(b_dir);
    // The two sides run at once: counts do not depend on what else the machine is doing.
    // The baseline gets a filler variable as long as the candidate's additions: the environment sits at
    // the top of the stack, so equal sizes keep both sides' stack addresses (and simulated misses) alike.
    size_t extra = 0;
    for (const std::string& e : args.candidate_env) extra += e.size() + 1;
    const std::string pad_name = "LLAMASCOPE_GATE_PAD=";
    const std::vector<std::string> base_env =
        extra > pad_name.size()
            ? std::vector<std::string>{pad_name + std::string(extra - pad_name.size() - 1, 'x')}
            : std::vector<std::string>{};
    auto a = std::async(std::launch::async, [&] {
      return count_side(args, args.run_binary, args.kernels, models[i], base_env, a_dir);
    });
    SideResult b =
        count_side(args, args.candidate, args.candidate_kernels, models[i], args.candidate_env, b_dir);
    add_series(base, a.get(), kernels, tests);
    add_series(cand, b, kernels, tests);
  }
  std::error_code ec;
  std::filesystem::remove_all(tmp, ec);
  SeriesMap base_cycles, cand_cycles;
  for (const auto& [key, s] : base)
    if (is_cycles_series(key)) base_cycles[key] = s;
  for (const auto& [key, s] : cand)
    if (is_cycles_series(key)) cand_cycles[key] = s;
  std::vector<Comparison> out = compare(base_cycles, cand_cycles, options);
  for (Comparison& c : out) judge_counts(c, base, cand, options.threshold);
  mode_line = fmt::format(
      "deterministic: Callgrind counts, 1 thread, est. cycles = Ir + {:.0f} x L1 misses + {:.0f} x LL misses "
      "(simulated 32 KiB L1s, 8 MiB LL). Valgrind has no AVX-512: the SIMD backend ran its AVX2 path "
      "(LLAMASCOPE_SIMD_ISA=avx2).{}",
      kL1MissCycles, kLLMissCycles,
      args.candidate_env.empty()
          ? ""
          : " Candidate env: " + fmt::format("{}", fmt::join(args.candidate_env, " ")));
  return out;
}

}  // namespace llamascope::gate
