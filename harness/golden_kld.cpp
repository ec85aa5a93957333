// `llamascope golden kld`: perplexity of a base model and of a model, and the KL divergence of the model's
// next-token distributions from the base's, on a text split into chunks as llama-perplexity splits it
// (docs/numerics.md). The base is a model file, or a compact reference saved from one (--save-ref / --ref).
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/error.h"
#include "engine/forward.h"
#include "engine/model.h"
#include "harness/commands.h"
#include "harness/common.h"
#include "harness/environment.h"
#include "harness/kld.h"
#include "harness/kld_reference.h"
#include "harness/progress_line.h"
#include "harness/records.h"

namespace llamascope {
namespace {

struct KldArgs {
  std::string base, model, text, ref, save_ref, jsonl;
  int ctx = 512;
  int max_chunks = 0;
  int top_k = 32;
  double tail_mass = 1e-7;
  KernelFlags kernels;
};

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The chunks llama-perplexity evaluates: ctx tokens each, cut from the tokenized text (BOS first when the
// vocabulary adds one), the first token of every chunk replaced by BOS.
std::vector<int32_t> chunk_tokens(const Tokenizer& tok, const std::string& text, int ctx, int max_chunks,
                                  uint32_t& n_chunks) {
  const bool add_bos = tok.vocab().add_bos && tok.vocab().bos >= 0;
  std::vector<int32_t> tokens = tok.encode(text, add_bos);
  n_chunks = static_cast<uint32_t>(tokens.size() / ctx);
  if (max_chunks > 0) n_chunks = std::min<uint32_t>(n_chunks, max_chunks);
  if (n_chunks == 0)
    throw Error(
        fmt::format("-f: the text has {} tokens, fewer than one chunk of --ctx {}", tokens.size(), ctx));
  tokens.resize(size_t(n_chunks) * ctx);
  if (add_bos)
    for (size_t c = 0; c < n_chunks; ++c) tokens[c * ctx] = tok.vocab().bos;
  return tokens;
}

void check_same_vocabulary(const Model& base, const Model& model) {
  if (base.config.vocab_size != model.config.vocab_size)
    throw Error(fmt::format("--base has {} tokens in its vocabulary, --model {}", base.config.vocab_size,
                            model.config.vocab_size));
  if (base.tokenizer && model.tokenizer && base.tokenizer->vocab().tokens != model.tokenizer->vocab().tokens)
    throw Error("--base and --model have different vocabularies");
}

// Logits of every position of one chunk.
std::vector<float> chunk_logits(Forward& forward, std::span<const int32_t> chunk, int64_t n_vocab) {
  std::vector<float> logits(chunk.size() * n_vocab);
  forward.eval(chunk, 0, logits.data(), /*all_logits=*/true);
  return logits;
}

void print_summary(const nlohmann::json& s) {
  const auto& k = s["kld"];
  const auto& p = s["ppl"];
  const auto& dp = s["delta_p"];
  fmt::print("positions            : {}\n", s["positions"].get<size_t>());
  fmt::print("PPL(base)            : {:10.6f} ± {:10.6f}\n", p["base"].get<double>(),
             p["base_stderr"].get<double>());
  fmt::print("PPL(model)           : {:10.6f} ± {:10.6f}\n", p["model"].get<double>(),
             p["model_stderr"].get<double>());
  fmt::print("PPL(model)/PPL(base) : {:10.6f} ± {:10.6f}\n", p["ratio"].get<double>(),
             p["ratio_stderr"].get<double>());
  fmt::print("Mean KLD             : {:10.6f} ± {:10.6f}\n", k["mean"].get<double>(),
             k["stderr"].get<double>());
  if (k["truncation_bound"].get<double>() > 0)
    fmt::print("KLD truncation bound : {:10.3e} (reference rows are truncated: the mean lies within +this)\n",
               k["truncation_bound"].get<double>());
  for (const char* f : {"max", "p99_9", "p99", "p95", "p90", "median", "p10", "p5", "p1", "min"})
    fmt::print("KLD {:<17}: {:10.6f}\n", f, k[f].get<double>());
  fmt::print("Mean Δp              : {:7.3f} ± {:6.3f} %\n", 100 * dp["mean"].get<double>(),
             100 * dp["stderr"].get<double>());
  for (const char* f : {"max", "p99_9", "p99", "p95", "p90", "median", "p10", "p5", "p1", "min"})
    fmt::print("Δp {:<18}: {:7.3f} %\n", f, 100 * dp[f].get<double>());
  fmt::print("RMS Δp               : {:7.3f} ± {:6.3f} %\n", 100 * dp["rms"].get<double>(),
             100 * dp["rms_stderr"].get<double>());
  fmt::print("Same top p           : {:7.3f} ± {:6.3f} %\n", 100 * s["same_top_p"].get<double>(),
             100 * s["same_top_p_stderr"].get<double>());
}

nlohmann::json file_identity(const std::string& path) {
  return {{"path", path}, {"sha256", file_sha256(path)}};
}

// --ref: the stored reference, checked against the model (and against -f when it is given too).
KldReference read_checked_reference(const KldArgs& args, const Model& model, int64_t n_vocab) {
  KldReference ref = read_kld_reference(args.ref);
  if (int64_t{ref.n_vocab} != n_vocab)
    throw Error(
        fmt::format("{}: made with a {}-token vocabulary, --model has {}", args.ref, ref.n_vocab, n_vocab));
  if (int64_t{ref.ctx} > model.config.context_length)
    throw Error("--ref: its chunks exceed the model's context");
  if (!args.text.empty()) {  // the reference holds its tokens; a text given too must give the same ones
    if (!model.tokenizer) throw Error(args.model + ": has no tokenizer to read -f with");
    uint32_t n_chunks = 0;
    const std::vector<int32_t> tokens =
        chunk_tokens(*model.tokenizer, read_text(args.text), static_cast<int>(ref.ctx), 0, n_chunks);
    if (n_chunks < ref.n_chunks || !std::equal(ref.tokens.begin(), ref.tokens.end(), tokens.begin()))
      throw Error(args.text + ": does not tokenize to the tokens " + args.ref + " was made from");
  }
  return ref;
}

// --base: a new reference's settings and tokens (-f as the base model tokenizes it); its positions come
// from the base model's logits as the chunks run.
KldReference new_reference(const KldArgs& args, const Model& base, const Model& model, int64_t n_vocab) {
  KldReference ref;
  check_same_vocabulary(base, model);
  if (!base.tokenizer) throw Error(args.base + ": has no tokenizer");
  if (args.ctx > base.config.context_length || args.ctx > model.config.context_length)
    throw Error(fmt::format("--ctx {} exceeds a model's context length", args.ctx));
  ref.n_vocab = static_cast<uint32_t>(n_vocab);
  ref.ctx = static_cast<uint32_t>(args.ctx);
  ref.first = ref.ctx / 2;
  ref.min_k = static_cast<uint32_t>(args.top_k);
  ref.tail_mass = args.tail_mass;
  ref.base_sha256 = file_sha256(args.base);
  ref.tokens = chunk_tokens(*base.tokenizer, read_text(args.text), args.ctx, args.max_chunks, ref.n_chunks);
  return ref;
}

// The llamascope.kld/1 record.
nlohmann::json kld_record(const KldArgs& args, const KernelSet& kernels, const KldReference& ref,
                          bool from_base, const nlohmann::json& summary) {
  nlohmann::json record = {{"schema", "llamascope.kld/1"},    {"run_id", new_run_id()},
                           {"time", utc_now_iso8601()},       {"model", file_identity(args.model)},
                           {"kernels", kernels.spec()},       {"kv_type", args.kernels.kv_type},
                           {"threads", args.kernels.threads}, {"ctx", ref.ctx},
                           {"chunks", ref.n_chunks},          {"environment", environment_json()}};
  if (from_base) {
    record["base"] = {{"path", args.base}, {"sha256", ref.base_sha256}};
    record["text"] = file_identity(args.text);
  } else {
    record["base"] = {{"sha256", ref.base_sha256}};
    record["reference"] = file_identity(args.ref);
  }
  record.update(summary);
  return record;
}

void golden_kld(const KldArgs& args) {
  if (args.base.empty() == args.ref.empty()) throw Error("golden kld: give exactly one of --base and --ref");
  if (!args.save_ref.empty() && args.base.empty()) throw Error("--save-ref needs --base");
  if (args.ctx < 4) throw Error("--ctx must be at least 4");
  if (args.top_k < 1) throw Error("--top-k must be at least 1");
  if (!(args.tail_mass >= 0 && args.tail_mass < 1)) throw Error("--tail-mass must be in [0, 1)");
  std::unique_ptr<Model> model = load_model(args.model);
  const int64_t n_vocab = model->config.vocab_size;
  KernelSet kernels(args.kernels.kernels, BackendOptions{args.kernels.threads});

  KldReference ref;
  std::unique_ptr<Model> base;
  if (!args.ref.empty()) {
    ref = read_checked_reference(args, *model, n_vocab);
  } else {
    if (args.text.empty()) throw Error("golden kld: -f TEXT is required with --base");
    base = load_model(args.base);
    ref = new_reference(args, *base, *model, n_vocab);
  }

  std::unique_ptr<Forward> base_forward;
  const TensorType kv_type = kv_type_from_flag(args.kernels.kv_type);
  if (base) base_forward = std::make_unique<Forward>(*base, kernels, ref.ctx, ref.ctx, kv_type);
  Forward model_forward(*model, kernels, ref.ctx, ref.ctx, kv_type);
  DivergenceStats stats;
  size_t position = 0;
  ProgressLine progress;
  for (uint32_t c = 0; c < ref.n_chunks; ++c) {
    const std::span<const int32_t> chunk =
        std::span<const int32_t>(ref.tokens).subspan(size_t(c) * ref.ctx, ref.ctx);
    const std::vector<float> q = chunk_logits(model_forward, chunk, n_vocab);
    std::vector<float> p;
    if (base_forward) p = chunk_logits(*base_forward, chunk, n_vocab);
    for (uint32_t i = ref.first; i + 1 < ref.ctx; ++i, ++position) {
      const std::span<const float> q_row(q.data() + size_t(i) * n_vocab, n_vocab);
      if (base_forward) {
        const std::span<const float> p_row(p.data() + size_t(i) * n_vocab, n_vocab);
        stats.add(divergence_full(p_row, q_row, chunk[i + 1]));
        if (!args.save_ref.empty()) ref.add_position(p_row, chunk[i + 1]);
      } else {
        stats.add(divergence_top(ref.position(position), q_row, chunk[i + 1]));
      }
    }
    progress.show(fmt::format("golden kld: chunk {}/{}", c + 1, ref.n_chunks));
  }
  progress.keep();
  const nlohmann::json summary = stats.summary();
  print_summary(summary);

  const nlohmann::json record = kld_record(args, kernels, ref, base != nullptr, summary);
  if (!args.save_ref.empty()) {
    write_kld_reference(args.save_ref, ref);
    fmt::print("reference: {} ({} positions, {:.1f} entries per position on average)\n", args.save_ref,
               ref.positions(), double(ref.ids.size()) / double(std::max<size_t>(1, ref.positions())));
  }
  if (!args.jsonl.empty()) write_file_atomically(args.jsonl, record.dump() + "\n");
}

}  // namespace

void register_golden_kld_command(CLI::App& golden) {
  auto args = std::make_shared<KldArgs>();
  auto* cmd = golden.add_subcommand(
      "kld", "Perplexity and KL divergence of a model against a base model (llama-perplexity's figures)");
  cmd->add_option("--base", args->base, "base model (the reference distribution), e.g. the F32 file");
  cmd->add_option("--ref", args->ref, "compact reference saved with --save-ref, instead of --base");
  cmd->add_option("-m,--model", args->model, "model to compare")->required();
  cmd->add_option("-f,--file", args->text, "text to evaluate (with --base)");
  cmd->add_option("--ctx", args->ctx,
                  "tokens per chunk (the first starts with BOS; the second half is scored)")
      ->capture_default_str();
  cmd->add_option("--chunks", args->max_chunks, "evaluate at most this many chunks (0: all)");
  cmd->add_option("--save-ref", args->save_ref, "write a compact reference of the base's distributions");
  cmd->add_option("--top-k", args->top_k, "--save-ref: logits kept per position, at least")
      ->capture_default_str();
  cmd->add_option("--tail-mass", args->tail_mass,
                  "--save-ref: keep more logits until the probability left out is at most this")
      ->capture_default_str();
  cmd->add_option("--jsonl", args->jsonl, "write the statistics as one llamascope.kld/1 record");
  add_kernel_flags(*cmd, args->kernels, "");
  cmd->callback([args] { golden_kld(*args); });
}

}  // namespace llamascope
