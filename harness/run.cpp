// `llamascope run`: generate text. stdout carries only the text (prompt, then generated text, then a
// newline, as llama2.c prints it), streamed as produced; statistics go to stderr.
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "engine/forward.h"
#include "engine/model.h"
#include "engine/sampler.h"
#include "harness/commands.h"
#include "harness/common.h"

namespace llamascope {
namespace {

struct RunArgs {
  std::string model;
  std::string tokenizer;
  std::string prompt;
  int n_new = 256;
  SamplerParams sampler;
  KernelFlags kernels;
  bool quiet = false;
};

void emit(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

void run(const RunArgs& args) {
  using clock = std::chrono::steady_clock;
  Sampler::validate(args.sampler);
  if (args.n_new < 0) throw Error("-n must be >= 0");
  std::unique_ptr<Model> model = load_model(args.model, args.tokenizer);
  if (!model->tokenizer)
    throw Error(args.model + ": no tokenizer (give -z tokenizer.bin for a llama2.c checkpoint)");
  const Tokenizer& tok = *model->tokenizer;
  const ModelConfig& c = model->config;

  std::vector<int32_t> prompt = tok.encode(args.prompt, /*add_bos=*/true);
  if (prompt.empty()) throw Error("the prompt encodes to no tokens and the model adds no BOS");
  // -n counts positions as llama2.c's `steps` - 1 does: the model runs positions 0..n (the prompt included)
  // and every token it predicts is printed, the prediction made at position n too. From a lone BOS that is
  // n + 1 new tokens, the same text as llama2.c's `-n n+1`.
  const int64_t n_prompt = static_cast<int64_t>(prompt.size());
  const int64_t max_new = std::max<int64_t>(0, int64_t(args.n_new) + 2 - n_prompt);
  const int64_t context = std::max<int64_t>(n_prompt, int64_t(args.n_new) + 1);
  if (max_new == 0)
    std::fprintf(
        stderr,
        "llamascope: note: the prompt (%lld tokens) fills the -n %d positions; nothing is generated\n",
        static_cast<long long>(n_prompt), args.n_new);
  if (context > c.context_length && !args.quiet)
    std::fprintf(stderr,
                 "llamascope: note: running %lld positions, past the model's training context of %d\n",
                 static_cast<long long>(context), c.context_length);

  KernelSet kernels(args.kernels.kernels, BackendOptions{args.kernels.threads});
  Forward forward(*model, kernels, context, Forward::kDefaultMaxBatch,
                  kv_type_from_flag(args.kernels.kv_type));
  Sampler sampler(args.sampler);
  Utf8Stream out;
  std::vector<float> logits(static_cast<size_t>(c.vocab_size));

  // The prompt is printed as its tokens decode (so the output shows how the model saw it).
  for (size_t i = 1; i < prompt.size(); ++i) emit(out.push(tok.piece(prompt[i - 1], prompt[i])));
  if (prompt.size() == 1 && prompt[0] != tok.vocab().bos) emit(out.push(tok.piece(-1, prompt[0])));

  const auto t0 = clock::now();
  forward.eval(prompt, 0, logits.data());
  const auto t_prefill = clock::now();
  // llama2.c ends its checkpoints' generation at token 1 (BOS); GGUF models at their end-of-generation
  // tokens.
  const bool stop_at_bos = model->format == ModelFormat::llama2c;
  int64_t pos = static_cast<int64_t>(prompt.size());
  int32_t prev = prompt.back();
  int64_t generated = 0;
  while (generated < max_new) {
    const int32_t next = sampler.sample(logits);
    if (tok.is_end_of_generation(next) || (stop_at_bos && next == tok.vocab().bos)) break;
    emit(out.push(tok.piece(prev, next)));
    ++generated;
    prev = next;
    if (generated == max_new) break;
    forward.eval({&next, 1}, pos++, logits.data());
  }
  emit(out.flush() + "\n");
  const auto t_end = clock::now();

  if (!args.quiet) {
    const double prefill_s = std::chrono::duration<double>(t_prefill - t0).count();
    const double gen_s = std::chrono::duration<double>(t_end - t_prefill).count();
    std::fprintf(stderr,
                 "llamascope: %s, kernels %s, %d threads: prompt %zu tokens in %.3f s (%.1f tok/s), "
                 "generated %lld tokens in %.3f s (%.1f tok/s)\n",
                 model->path.c_str(), kernels.spec().c_str(), args.kernels.threads, prompt.size(), prefill_s,
                 prompt.size() / std::max(prefill_s, 1e-9), static_cast<long long>(generated), gen_s,
                 generated / std::max(gen_s, 1e-9));
  }
}

}  // namespace

void register_run_command(CLI::App& app) {
  auto args = std::make_shared<RunArgs>();
  auto* cmd = app.add_subcommand("run", "Generate text from a prompt (stdout: the text only)");
  add_model_flags(*cmd, args->model, &args->tokenizer);
  cmd->add_option("-p,--prompt", args->prompt, "prompt text");
  cmd->add_option("-n,--n-new", args->n_new,
                  "positions to run after BOS, prompt included, as llama2.c's -n minus 1 (from a lone BOS: "
                  "n+1 new tokens)")
      ->capture_default_str();
  cmd->add_option("--temp", args->sampler.temperature, "temperature (0 = greedy)")->capture_default_str();
  cmd->add_option("--top-k", args->sampler.top_k, "keep the k most likely tokens (0 = off)")
      ->capture_default_str();
  cmd->add_option("--top-p", args->sampler.top_p, "nucleus sampling mass (1 = off)")->capture_default_str();
  cmd->add_option("--min-p", args->sampler.min_p, "drop tokens below min-p x the top probability (0 = off)")
      ->capture_default_str();
  cmd->add_option("--seed", args->sampler.seed, "random seed")->capture_default_str();
  cmd->add_flag("-q,--quiet", args->quiet, "no statistics on stderr");
  add_kernel_flags(*cmd, args->kernels, "");
  cmd->callback([args] { run(*args); });
}

}  // namespace llamascope
