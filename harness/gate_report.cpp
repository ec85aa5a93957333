// `llamascope gate`'s outputs: the Markdown summary, the llamascope.gate/1 JSON, the exit status.
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>

#include "base/error.h"
#include "harness/gate_compare.h"

namespace llamascope::gate {

namespace {

int verdict_rank(const std::string& verdict) {
  if (verdict == "regression") return 0;
  if (verdict == "inconclusive") return 1;
  if (verdict == "improvement") return 2;
  return 3;
}

std::string percent(double ratio) {
  return fmt::format("{:+.2f}%", (ratio - 1) * 100);
}

std::string value(double v, const std::string& unit) {
  if (unit == "ns" || unit == "ns/token") {
    if (v >= 1e6) return fmt::format("{:.3f} ms", v / 1e6);
    if (v >= 1e3) return fmt::format("{:.2f} us", v / 1e3);
    return fmt::format("{:.0f} ns", v);
  }
  return fmt::format("{:.0f}", v);
}

std::string op_name(const Comparison& c) {
  return c.baseline.op.empty() ? "(whole model)" : c.baseline.op;
}

}  // namespace

int exit_status(const std::vector<Comparison>& comparisons) {
  for (const Comparison& c : comparisons)
    if (c.verdict == "regression") return 1;
  return 0;
}

std::string markdown_summary(const std::vector<Comparison>& comparisons, const GateOptions& o,
                             const std::string& mode_line) {
  std::vector<const Comparison*> sorted;
  std::map<std::string, int> counts;
  for (const Comparison& c : comparisons) sorted.push_back(&c), ++counts[c.verdict];
  std::stable_sort(sorted.begin(), sorted.end(), [](const Comparison* a, const Comparison* b) {
    if (verdict_rank(a->verdict) != verdict_rank(b->verdict))
      return verdict_rank(a->verdict) < verdict_rank(b->verdict);
    return a->verdict == "regression" && a->ratio > b->ratio;  // the worst regression first
  });
  std::string md = fmt::format(
      "## llamascope gate: {}\n\n{} regression(s), {} improvement(s), {} unchanged, {} inconclusive; "
      "threshold "
      "{:.2f}%\n{}\n\n",
      counts["regression"] ? "FAIL" : "pass", counts["regression"], counts["improvement"],
      counts["unchanged"], counts["inconclusive"], o.threshold * 100, mode_line);
  for (const Comparison* c : sorted)
    if (c->verdict == "regression")
      md += fmt::format("- **regression in {}** ({}): {} ({} .. {})\n", op_name(*c), c->baseline.benchmark,
                        percent(c->ratio), percent(c->interval.low), percent(c->interval.high));
  md += "\n| verdict | op | benchmark | baseline | candidate | change | 95% CI | p | n | note |\n";
  md += "| --- | --- | --- | ---: | ---: | ---: | --- | ---: | ---: | --- |\n";
  for (const Comparison* c : sorted) {
    const bool exact = c->baseline.deterministic;
    md += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {}/{} | {} |\n", c->verdict, op_name(*c),
                      c->baseline.benchmark, value(median(c->baseline.samples), c->baseline.unit),
                      value(median(c->candidate.samples), c->candidate.unit), percent(c->ratio),
                      exact ? "exact" : percent(c->interval.low) + " .. " + percent(c->interval.high),
                      exact ? "-" : fmt::format("{:.3g}", c->test.p), c->baseline.samples.size(),
                      c->candidate.samples.size(), c->note);
  }
  return md;
}

nlohmann::json json_summary(const std::vector<Comparison>& comparisons, const GateOptions& o,
                            const std::string& mode) {
  nlohmann::json list = nlohmann::json::array();
  for (const Comparison& c : comparisons)
    list.push_back(
        {{"key", c.key},
         {"benchmark", c.baseline.benchmark},
         {"op", c.baseline.op.empty() ? nlohmann::json(nullptr) : nlohmann::json(c.baseline.op)},
         {"unit", c.baseline.unit},
         {"verdict", c.verdict},
         {"ratio", c.ratio},
         {"ci95", {c.interval.low, c.interval.high}},
         {"p_value", c.baseline.deterministic ? nlohmann::json(nullptr) : nlohmann::json(c.test.p)},
         {"p_exact", c.test.exact},
         {"test", c.baseline.deterministic ? nlohmann::json(nullptr) : nlohmann::json(c.test.name)},
         {"baseline_median", median(c.baseline.samples)},
         {"candidate_median", median(c.candidate.samples)},
         {"baseline_samples", c.baseline.samples},
         {"candidate_samples", c.candidate.samples},
         {"more_samples", c.more_samples},
         {"note", c.note}});
  return {{"schema", "llamascope.gate/1"},
          {"mode", mode},
          {"threshold", o.threshold},
          {"alpha", o.alpha},
          {"paired", o.paired},
          {"exit_status", exit_status(comparisons)},
          {"comparisons", list}};
}

double parse_threshold(const std::string& text) {
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (end == text.c_str())
    throw Error("--threshold '" + text + "': expected a percentage such as 2% or a fraction such as 0.02");
  if (*end == '%' && end[1] == '\0')
    v /= 100;
  else if (*end != '\0')
    throw Error("--threshold '" + text + "': expected a percentage such as 2% or a fraction such as 0.02");
  if (!(v > 0 && v < 1)) throw Error("--threshold '" + text + "': must be between 0% and 100%");
  return v;
}

}  // namespace llamascope::gate
