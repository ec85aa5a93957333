// `llamascope synth --preset NAME --type TYPE [--seed S] [--vocab-from FILE.gguf] -o OUT.gguf` (and
// `--list`): writes a random-weight LLaMA of a real model's shapes in any tensor type, generating and
// quantizing one chunk of rows at a time so that memory stays far below the file size.
#include "harness/synth.h"

#include <fmt/format.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/tensor_type.h"
#include "engine/gguf.h"
#include "harness/commands.h"
#include "harness/common.h"
#include "harness/quant_target.h"
#include "harness/synth_file.h"
#include "harness/synth_progress.h"
#include "kernels/quant.h"
#include "kernels/thread_pool.h"

namespace llamascope {
namespace {

using namespace synth;

struct SynthArgs {
  bool list = false;
  std::string preset, type, vocab_from, output;
  uint64_t seed = 42;
  int threads = 0;
};

constexpr uint64_t kAlignment = 32;

// The size the file would have, from the GGUF writer's own layout (nothing is written).
uint64_t planned_file_bytes(const std::vector<GgufKeyValue>& metadata, const Plan& plan) {
  GgufWriter writer("(size only)", kAlignment);
  for (const GgufKeyValue& kv : metadata) writer.set(kv.key, kv.value);
  for (const PlannedTensor& t : plan.tensors) writer.declare_tensor(t.name, t.type, t.shape);
  return writer.file_bytes();
}

void print_list() {
  const char* types[] = {"F32", "F16", "Q8_0", "Q4_0", "Q4_K_M"};
  fmt::print("{:<15} {:>5} {:>6} {:>8} {:>6} {:>7} {:>7} {:>7}", "preset", "dim", "layers", "heads/kv",
             "hidden", "vocab", "context", "params");
  for (const char* t : types) fmt::print(" {:>10}", t);
  fmt::print("  {}\n", "shapes of");
  for (const SynthPreset& p : synth_presets()) {
    std::vector<GgufKeyValue> metadata = synthetic_tokenizer_metadata(p.vocab);
    for (GgufKeyValue& kv : model_metadata(p, p.vocab, parse_quant_target("F32"), SynthArgs{}.seed))
      metadata.push_back(std::move(kv));
    fmt::print("{:<15} {:>5} {:>6} {:>8} {:>6} {:>7} {:>7} {:>7}", p.name, p.dim, p.n_layers,
               fmt::format("{}/{}", p.n_heads, p.n_kv_heads), p.hidden, p.vocab, p.context,
               human_count(synth_parameter_count(p, p.vocab)));
    for (const char* t : types)
      fmt::print(" {:>10}", format_bytes(static_cast<double>(planned_file_bytes(
                                             metadata, plan_tensors(p, p.vocab, parse_quant_target(t)))),
                                         1));
    std::string extra;
    if (p.tied) extra += ", tied embeddings";
    if (p.rope_base != 10000.0f) extra += fmt::format(", RoPE base {:g}", p.rope_base);
    if (p.llama3_rope_scale > 0)
      extra += fmt::format(", rope_freqs (x{:g} LLaMA 3 scaling)", p.llama3_rope_scale);
    fmt::print("  {}{}\n", p.model, extra);
  }
  fmt::print("file sizes include the synthetic vocabulary; any type of `synth --type` can be written\n");
}

void run_synth(const SynthArgs& args) {
  if (args.list) {
    print_list();
    return;
  }
  if (args.preset.empty() || args.type.empty() || args.output.empty())
    throw Error("synth needs --preset, --type and -o (or --list)");
  const SynthPreset& preset = find_synth_preset(args.preset);
  const QuantTarget target = parse_quant_target(args.type);

  int64_t vocab = preset.vocab;
  std::vector<GgufKeyValue> tokenizer;
  if (!args.vocab_from.empty()) {
    tokenizer = copied_tokenizer_metadata(args.vocab_from, &vocab);
    if (vocab != preset.vocab)
      fmt::print(stderr, "synth: note: {} has {} tokens, so token_embd has {} rows, not the preset's {}\n",
                 args.vocab_from, vocab, vocab, preset.vocab);
  } else {
    tokenizer = synthetic_tokenizer_metadata(vocab);
  }

  const Plan plan = plan_tensors(preset, vocab, target);
  for (const auto& [key, count] : plan.fallbacks) {
    const auto& [wanted, used, row] = key;
    fmt::print(stderr, "synth: rows of {} do not fit {} blocks; {} tensor{} use {}\n", row, type_name(wanted),
               count, count == 1 ? "" : "s", type_name(used));
  }

  const RemoveTmpOnSignal cleanup(args.output + ".tmp");  // GgufWriter's temporary name
  GgufWriter writer(args.output, kAlignment);
  for (GgufKeyValue& kv : model_metadata(preset, vocab, target, args.seed))
    writer.set(kv.key, std::move(kv.value));
  for (GgufKeyValue& kv : tokenizer) writer.set(kv.key, std::move(kv.value));
  tokenizer.clear();
  uint64_t total = 0;
  for (const PlannedTensor& t : plan.tensors) {
    writer.declare_tensor(t.name, t.type, t.shape);
    total += t.bytes();
  }
  writer.write_header();

  const unsigned threads = args.threads > 0 ? static_cast<unsigned>(args.threads) : hardware_threads();
  ThreadPool pool(static_cast<int>(threads));
  WriteProgress progress(total);
  uint64_t written = 0;
  for (const PlannedTensor& t : plan.tensors)
    write_tensor(writer, t, preset, args.seed, pool, progress, written);
  writer.finish();
  progress.finish();
  fmt::print("wrote {}: {} ({}), {}, {} parameters, {}, seed {}, {:.1f} s, {} threads\n", args.output,
             preset.name, preset.model, target.name, human_count(synth_parameter_count(preset, vocab)),
             format_bytes(static_cast<double>(std::filesystem::file_size(args.output)), 1), args.seed,
             progress.seconds(), threads);
}

}  // namespace

void register_synth_command(CLI::App& app) {
  auto args = std::make_shared<SynthArgs>();
  auto* cmd = app.add_subcommand("synth", "Write a random-weight model with the shapes of a real one");
  cmd->add_flag("--list", args->list, "list the presets with parameter counts and file sizes");
  cmd->add_option("--preset", args->preset, "model shapes (see --list)");
  cmd->add_option("--type", args->type, quant_target_names());
  cmd->add_option("--seed", args->seed, "random seed (the same seed writes the same bytes)")
      ->capture_default_str();
  cmd->add_option("--vocab-from", args->vocab_from, "copy the tokenizer from this GGUF file");
  cmd->add_option("-o,--output", args->output, "output GGUF file");
  cmd->add_option("-t,--threads", args->threads, "threads (default: all; the output does not depend on it)")
      ->check(CLI::Range(1, 1024));
  cmd->callback([args] { run_synth(*args); });
}

}  // namespace llamascope
