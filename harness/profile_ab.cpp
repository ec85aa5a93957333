// `llamascope profile --ab A --vs B`: which ops a change of kernel set made faster or slower. Both sets
// run on the one loaded model in one process, step by step (harness/ab.h), each with its own per-op
// observer; every step gives one A/B pair per op, per op kind and for the whole step, and the speed-up
// of B over A is the median per-pair ratio with its bootstrap interval.
#include "harness/profile_ab.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>

#include "base/error.h"
#include "engine/forward.h"
#include "engine/model.h"
#include "engine/sampler.h"
#include "harness/ab.h"
#include "harness/common.h"
#include "harness/environment.h"
#include "harness/model_inputs.h"
#include "harness/records.h"

namespace llamascope {

namespace {

// Each op's time in one step, summed over layers, by op name and by "all <kind> ops".
class StepTotals : public OpObserver {
 public:
  void on_op(const OpEvent& e) override {
    ns[e.op] += static_cast<double>(e.ns);
    ns[std::string("all ") + op_kind_name(e.kind) + " ops"] += static_cast<double>(e.ns);
    if (std::find(order.begin(), order.end(), e.op) == order.end()) order.push_back(e.op);
  }
  std::map<std::string, double> ns;
  std::vector<std::string> order;
};

// Paired samples of one (phase, op): A's and B's time in it, step by step.
struct PairedSeries {
  std::vector<double> a_ns, b_ns;
};

std::string verdict(const Speedup& s, double threshold) {
  const double up = 1 + threshold, down = 1 / up;
  if (s.ci_high < down) return "slower";  // B takes longer than A beyond the threshold
  if (s.ci_low > up) return "faster";
  if (s.ci_low >= down && s.ci_high <= up) return "unchanged";
  return "unclear";
}

}  // namespace

namespace {

// Every step's A/B pairs: per (phase, op) series, the forward's op order and each set's backends.
struct AbSamples {
  std::map<std::pair<std::string, std::string>, PairedSeries> series;  // (phase, op)
  std::vector<std::string> order;
  std::vector<std::string> descriptions[2];
};

// Runs the rounds: two halves, the sets prepared in the order A, B and then B, A (docs/ab.md: a copy of the
// weights prepared later can stream faster), each round a prefill and n_gen decode steps in turns.
AbSamples collect_pairs(const ProfileAbArgs& args, const Model& model, const std::vector<int32_t>& prompt) {
  AbSamples out;
  std::vector<float> logits[2] = {std::vector<float>(static_cast<size_t>(model.config.vocab_size)),
                                  std::vector<float>(static_cast<size_t>(model.config.vocab_size))};
  int turn = 0;
  for (int half = 0; half < 2; ++half) {
    AbSets ab(model, args.ab, args.threads, /*b_first=*/half == 1, args.n_prompt + args.n_gen, args.n_prompt,
              kv_type_from_flag(args.kv_type));
    for (int side = 0; side < 2; ++side) out.descriptions[side] = ab.set[side]->descriptions();
    for (int side = 0; side < 2; ++side) ab.forward[side]->eval(prompt, 0, logits[side].data());  // warm-up
    const int rounds = half == 0 ? (args.rounds + 1) / 2 : args.rounds / 2;
    for (int round = 0; round < rounds; ++round) {
      int32_t next[2] = {0, 0};
      for (int s = 0; s <= args.n_gen; ++s) {
        const bool prefill = s == 0;
        StepTotals totals[2];
        const PairTimes t = time_pair(turn++, *ab.set[0], *ab.set[1], [&](int side) {
          ab.forward[side]->set_observer(&totals[side]);
          if (prefill)
            ab.forward[side]->eval(prompt, 0, logits[side].data());
          else
            ab.forward[side]->eval({&next[side], 1}, args.n_prompt + s - 1, logits[side].data());
          ab.forward[side]->set_observer(nullptr);
          next[side] = argmax(logits[side]);
        });
        const std::string phase = prefill ? "prefill" : "decode";
        PairedSeries& whole = out.series[{phase, "(whole step)"}];
        whole.a_ns.push_back(t.a_ns), whole.b_ns.push_back(t.b_ns);
        for (const auto& [op, a_ns] : totals[0].ns) {
          const auto b = totals[1].ns.find(op);
          if (b == totals[1].ns.end()) continue;
          PairedSeries& p = out.series[{phase, op}];
          p.a_ns.push_back(a_ns), p.b_ns.push_back(b->second);
        }
        if (out.order.empty()) out.order = totals[0].order;
      }
    }
  }
  return out;
}

// The (phase, op) keys in report order: prefill first, each op in forward order, then each "all <kind> ops",
// then the whole step.
std::vector<std::pair<std::string, std::string>> report_order(const AbSamples& samples) {
  auto rank = [&](const std::string& op) {
    const auto it = std::find(samples.order.begin(), samples.order.end(), op);
    if (it != samples.order.end()) return static_cast<int>(it - samples.order.begin());
    return op == "(whole step)" ? 10000 : 1000;
  };
  std::vector<std::pair<std::string, std::string>> keys;
  for (const auto& [key, p] : samples.series) keys.push_back(key);
  std::stable_sort(keys.begin(), keys.end(), [&](const auto& x, const auto& y) {
    if (x.first != y.first) return x.first == "prefill";
    return rank(x.second) < rank(y.second);
  });
  return keys;
}

// The closing lines: per phase, B's change of step time and the op kinds it went to, largest first.
void print_where_time_went(std::map<std::string, std::vector<std::pair<double, std::string>>>& kind_deltas,
                           std::map<std::string, double>& step_delta) {
  for (auto& [phase, deltas] : kind_deltas) {
    std::sort(deltas.begin(), deltas.end(),
              [](const auto& x, const auto& y) { return std::fabs(x.first) > std::fabs(y.first); });
    std::vector<std::string> parts;
    for (const auto& [delta, op] : deltas)
      parts.push_back(fmt::format("{} {:+.1f} us", op.substr(4, op.size() - 8), delta / 1e3));
    fmt::print("{}: B's step {:+.1f} us against A's; by op kind, largest first: {}\n", phase,
               step_delta[phase] / 1e3, fmt::join(parts, ", "));
  }
}

}  // namespace

void profile_ab(const ProfileAbArgs& args) {
  args.ab.check();
  if (args.n_prompt < 1) throw Error("-p: the prompt must have at least 1 token");
  if (args.n_gen < 0) throw Error("-n must be >= 0");
  if (args.rounds < 2) throw Error("--rounds must be >= 2: the sets are prepared in both orders");
  if (!(args.threshold > 0 && args.threshold < 1)) throw Error("--ab-threshold must be in (0, 1)");
  const std::string model_path = args.model.empty() ? bundled_model_path() : args.model;
  const std::unique_ptr<Model> model = load_model(model_path);
  const nlohmann::json identity = model_identity(*model);
  AbSamples samples = collect_pairs(args, *model, random_prompt(*model, args.n_prompt));

  const std::string run_id = new_run_id();
  std::vector<nlohmann::json> records;
  records.push_back({{"schema", "llamascope.profile_ab/1"},
                     {"run_id", run_id},
                     {"time", utc_now_iso8601()},
                     {"a", args.ab.a},
                     {"b", args.ab.b},
                     {"a_backend_descriptions", samples.descriptions[0]},
                     {"b_backend_descriptions", samples.descriptions[1]},
                     {"threads", args.threads},
                     {"n_prompt", args.n_prompt},
                     {"n_gen", args.n_gen},
                     {"rounds", args.rounds},
                     {"threshold", args.threshold},
                     {"model", identity},
                     {"environment", environment_json()}});
  fmt::print("profile A/B: {} ({}), A = {}, B = {}, {} threads, {} rounds of prefill {} + {} decode steps\n",
             identity["name"].get<std::string>(), model->weight_type_summary(), args.ab.a, args.ab.b,
             args.threads, args.rounds, args.n_prompt, args.n_gen);
  fmt::print("speed-up of B over A per step pair (above 1: B faster); verdict beyond +-{:.0f}%\n\n",
             args.threshold * 100);
  fmt::print("| phase | op | A per step | B per step | speed-up B/A | 95% CI | pairs | verdict |\n");
  fmt::print("| --- | --- | ---: | ---: | ---: | --- | ---: | --- |\n");
  // Where each phase's change of step time went: the median per-pair difference (B - A) of each op kind.
  std::map<std::string, std::vector<std::pair<double, std::string>>> kind_deltas;  // by phase
  std::map<std::string, double> step_delta;
  for (const auto& key : report_order(samples)) {
    const PairedSeries& p = samples.series[key];
    const Speedup s = speedup_b_over_a(p.a_ns, p.b_ns);
    const std::string v = verdict(s, args.threshold);
    const SampleStats a = summarize(p.a_ns), b = summarize(p.b_ns);
    std::vector<double> differences;
    for (size_t i = 0; i < p.a_ns.size(); ++i) differences.push_back(p.b_ns[i] - p.a_ns[i]);
    const double delta = summarize(differences).median;
    if (key.second == "(whole step)") step_delta[key.first] = delta;
    if (key.second.rfind("all ", 0) == 0) kind_deltas[key.first].push_back({delta, key.second});
    fmt::print("| {} | {} | {:.1f} us | {:.1f} us | {:.3f}x | {:.3f}x .. {:.3f}x | {} | {} |\n", key.first,
               key.second, a.median / 1e3, b.median / 1e3, s.median, s.ci_low, s.ci_high, s.pairs, v);
    records.push_back({{"schema", "llamascope.op_ab/1"},
                       {"run_id", run_id},
                       {"phase", key.first},
                       {"op", key.second},
                       {"a_ns", a.to_json()},
                       {"b_ns", b.to_json()},
                       {"delta_ns", delta},
                       {"speedup", s.to_json()},
                       {"verdict", v}});
  }
  fmt::print("\n");
  print_where_time_went(kind_deltas, step_delta);
  if (!args.jsonl.empty()) {
    std::string text;
    for (const nlohmann::json& r : records) text += r.dump() + "\n";
    write_file_atomically(args.jsonl, text);
  }
}

}  // namespace llamascope
