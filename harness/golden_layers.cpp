// `llamascope golden layers`: the scalar reference and a kernel set on the same tokens, the hidden state
// after every layer (every op's output with --ops) compared; names the first (layer, op) whose NMSE exceeds
// the tolerance (docs/numerics.md). LLAMASCOPE_INJECT_FAULT=OP:LAYER damages one op of the kernel set's run.
#include <fmt/format.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/error.h"
#include "engine/model.h"
#include "harness/commands.h"
#include "harness/common.h"
#include "harness/environment.h"
#include "harness/golden.h"
#include "harness/layer_check.h"

namespace llamascope {
namespace {

struct LayersArgs {
  std::string model, tokens, prompt, jsonl, golden_dir;
  bool every_op = false;
  double tolerance = 0;
  KernelFlags kernels;
};

void golden_layers(const LayersArgs& args) {
  const std::unique_ptr<Model> model = load_model(args.model);
  const std::vector<int32_t> tokens = check_tokens(*model, args.tokens, args.prompt);
  const std::string golden_dir = args.golden_dir.empty() ? default_golden_dir() : args.golden_dir;
  const double tolerance =
      args.tolerance > 0 ? args.tolerance : layer_tolerance(golden_dir, model->weight_type_summary());
  LayerCheckOptions options{args.kernels.kernels, args.kernels.threads,
                            kv_type_from_flag(args.kernels.kv_type), args.every_op};
  const std::vector<LayerComparison> results = check_layers(*model, tokens, options, tolerance);

  const std::string run_id = new_run_id();
  std::string records;
  const LayerComparison* first_failure = nullptr;
  fmt::print("{:>5} {:<12} {:>11} {:>11} {:>9}  {}\n", "layer", "op", "nmse", "max |diff|", "limit",
             "verdict");
  for (const LayerComparison& c : results) {
    fmt::print("{:>5} {:<12} {:>11.3e} {:>11.3e} {:>9.0e}  {}\n", c.layer, c.op, c.nmse, c.max_abs_diff,
               c.tolerance, c.pass() ? "ok" : "FAIL");
    if (!c.pass() && !first_failure) first_failure = &c;
    records += layer_check_record(c, run_id, args.kernels.kernels).dump() + "\n";
  }
  if (first_failure)
    fmt::print(
        "golden layers [{} vs scalar, {} tokens]: first out of tolerance: layer {} op {} (nmse {:.3e} > "
        "{:.0e})\n",
        args.kernels.kernels, tokens.size(), first_failure->layer, first_failure->op, first_failure->nmse,
        first_failure->tolerance);
  else
    fmt::print("golden layers [{} vs scalar, {} tokens]: all {} outputs within {:.0e}\n",
               args.kernels.kernels, tokens.size(), results.size(), tolerance);
  if (!args.jsonl.empty()) write_file_atomically(args.jsonl, records);
  if (first_failure) command_exit_status() = 1;
}

}  // namespace

void register_golden_layers_command(CLI::App& golden) {
  auto args = std::make_shared<LayersArgs>();
  auto* cmd = golden.add_subcommand(
      "layers", "Compare every layer's (--ops: every op's) output of a kernel set with the scalar reference");
  add_model_flags(*cmd, args->model);
  cmd->add_option("--tokens", args->tokens, "token ids separated by spaces (default: a short English text)");
  cmd->add_option("-p,--prompt", args->prompt, "text to tokenize (BOS first when the vocabulary adds one)");
  cmd->add_flag("--ops", args->every_op, "compare every op's output, not only each layer's hidden state");
  cmd->add_option("--tolerance", args->tolerance,
                  "NMSE limit (default: golden/tolerances.json's layers table)");
  cmd->add_option("--dir", args->golden_dir, "golden data folder (default: ./golden or the source tree's)");
  cmd->add_option("--jsonl", args->jsonl, "write one llamascope.layercheck/1 record per compared output");
  add_kernel_flags(*cmd, args->kernels, "");
  cmd->callback([args] { golden_layers(*args); });
}

}  // namespace llamascope
