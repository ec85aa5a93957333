// `llamascope golden`: every reference case of golden/llamacpp/manifest.json through a kernel set, prefill
// and decode, against llama.cpp's logits; one line per case, a verdict, and optional JSONL records.
#include <fmt/format.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "base/error.h"
#include "harness/commands.h"
#include "harness/common.h"
#include "harness/golden.h"

namespace llamascope {
namespace {

struct GoldenArgs {
  std::string dir;
  std::string filter;
  std::string jsonl;
  KernelFlags kernels;
};

nlohmann::json comparison_json(const LogitsComparison& c) {
  return {{"nmse", c.nmse},
          {"top1", c.top1},
          {"top1_strict", c.top1_strict},
          {"max_abs_diff", c.max_abs_diff},
          {"finite", c.finite}};
}

nlohmann::json greedy_json(const GreedyCheck& g) {
  if (g.reference.empty()) return nullptr;
  return {{"reference", g.reference},
          {"ours", g.ours},
          {"matched", g.matched},
          {"diverged_at", g.diverged_at < 0 ? nlohmann::json(nullptr) : nlohmann::json(g.diverged_at)},
          {"gap", g.diverged_at < 0 ? nlohmann::json(nullptr) : nlohmann::json(g.gap)},
          {"margin", g.margin},
          {"passed", g.passed()}};
}

// "16/16", or "5/16 tie" where the continuations part at a near-tie of our logits, "5/16 !" where they part
// at a clear difference.
std::string greedy_text(const GreedyCheck& g) {
  if (g.reference.empty()) return "-";
  const std::string count = fmt::format("{}/{}", g.matched, g.reference.size());
  if (g.diverged_at < 0) return count;
  return count + (g.passed() ? " tie" : " !");
}

void golden(const GoldenArgs& args) {
  const std::string dir = args.dir.empty() ? default_golden_dir() : args.dir;
  int passed = 0, failed = 0;
  std::string records;
  fmt::print("{:<28} {:<16} {:>10} {:>10} {:>7} {:>7} {:>7} {:>10} {:>8} {:>9}  {}\n", "model", "types",
             "nmse pre", "nmse dec", "top1", "strict", "limit", "pre-vs-dec", "nmse lim", "greedy",
             "verdict");
  for (const GoldenCase& c : load_golden_cases(dir)) {
    if (!args.filter.empty() && c.model_path.find(args.filter) == std::string::npos) continue;
    const GoldenResult r = run_golden_case(dir, c, args.kernels.kernels, args.kernels.threads,
                                           kv_type_from_flag(args.kernels.kv_type));
    r.passed() ? ++passed : ++failed;
    const std::string name = std::filesystem::path(c.model_path).filename().string();
    fmt::print("{:<28} {:<16} {:>10.3e} {:>10.3e} {:>7.4f} {:>7.4f} {:>7.2f} {:>10.2e} {:>8.0e} {:>9}  {}\n",
               name, r.weight_types, r.prefill.nmse, r.decode.nmse, std::min(r.prefill.top1, r.decode.top1),
               std::min(r.prefill.top1_strict, r.decode.top1_strict), r.tolerance.top1,
               r.prefill_vs_decode.nmse, r.tolerance.nmse, greedy_text(r.greedy), r.passed() ? "ok" : "FAIL");
    const nlohmann::json record = {{"schema", "llamascope.golden/1"},
                                   {"model", c.model_path},
                                   {"weight_types", r.weight_types},
                                   {"kernels", r.kernels},
                                   {"threads", r.threads},
                                   {"positions", c.n_positions},
                                   {"prefill", comparison_json(r.prefill)},
                                   {"decode", comparison_json(r.decode)},
                                   {"prefill_vs_decode", comparison_json(r.prefill_vs_decode)},
                                   {"limits",
                                    {{"nmse", r.tolerance.nmse},
                                     {"top1", r.tolerance.top1},
                                     {"top1_tie_margin", r.tolerance.tie_margin},
                                     {"prefill_vs_decode_nmse", r.prefill_decode_limit}}},
                                   {"greedy", greedy_json(r.greedy)},
                                   {"passed", r.passed()}};
    records += record.dump() + "\n";
  }
  fmt::print("golden [{} -t {}{}]: {} passed, {} failed\n", args.kernels.kernels, args.kernels.threads,
             args.kernels.kv_type == "f32" ? "" : " --kv-type " + args.kernels.kv_type, passed, failed);
  if (!args.jsonl.empty()) write_file_atomically(args.jsonl, records);
  if (failed) command_exit_status() = 1;
}

}  // namespace

void register_golden_command(CLI::App& app) {
  auto args = std::make_shared<GoldenArgs>();
  auto* cmd =
      app.add_subcommand("golden", "Check a kernel set against llama.cpp's reference logits (golden/)");
  cmd->add_option("--dir", args->dir, "golden data folder (default: ./golden or the source tree's)");
  cmd->add_option("--filter", args->filter, "only models whose path contains this text");
  cmd->add_option("--jsonl", args->jsonl, "also write one llamascope.golden/1 record per case");
  add_kernel_flags(*cmd, args->kernels, "");
  register_golden_kld_command(*cmd);
  register_golden_layers_command(*cmd);
  register_golden_record_commands(*cmd);
  cmd->callback([args, cmd] {
    if (cmd->get_subcommands().empty()) golden(*args);  // `golden kld` etc. run their own callbacks
  });
}

}  // namespace llamascope
