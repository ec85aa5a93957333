// `llamascope logits`: raw logits for a token sequence, n_tokens x n_vocab float32 little-endian; row i is
// the distribution after tokens[0..i]. One prefill batch by default, one token at a time with --decode.
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "base/error.h"
#include "engine/forward.h"
#include "engine/model.h"
#include "harness/commands.h"
#include "harness/common.h"

namespace llamascope {
namespace {

struct LogitsArgs {
  std::string model;
  std::string tokenizer;
  std::string tokens;
  std::string output;
  bool decode = false;
  KernelFlags kernels;
};

void logits(const LogitsArgs& args) {
  const std::vector<int32_t> tokens = parse_token_list(args.tokens);
  std::unique_ptr<Model> model = load_model(args.model, args.tokenizer);
  const int64_t vocab = model->config.vocab_size;
  if (static_cast<int64_t>(tokens.size()) > model->config.context_length)
    throw Error("--tokens: " + std::to_string(tokens.size()) + " tokens exceed the context of " +
                std::to_string(model->config.context_length));
  KernelSet kernels(args.kernels.kernels, BackendOptions{args.kernels.threads});
  Forward forward(*model, kernels, static_cast<int64_t>(tokens.size()), Forward::kDefaultMaxBatch,
                  kv_type_from_flag(args.kernels.kv_type));
  std::vector<float> out(tokens.size() * static_cast<size_t>(vocab));
  if (args.decode) {
    for (size_t i = 0; i < tokens.size(); ++i)
      forward.eval({&tokens[i], 1}, static_cast<int64_t>(i), out.data() + i * vocab);
  } else {
    forward.eval(tokens, 0, out.data(), /*all_logits=*/true);
  }
  write_file_atomically(args.output,
                        std::string(reinterpret_cast<const char*>(out.data()), out.size() * sizeof(float)));
}

}  // namespace

void register_logits_command(CLI::App& app) {
  auto args = std::make_shared<LogitsArgs>();
  auto* cmd =
      app.add_subcommand("logits", "Write the logits of every position of a token sequence (float32 LE)");
  add_model_flags(*cmd, args->model, &args->tokenizer);
  cmd->add_option("--tokens", args->tokens, "token ids separated by spaces, e.g. \"1 403 407\"")->required();
  cmd->add_option("-o,--output", args->output, "output file: n_tokens x n_vocab float32 little-endian")
      ->required();
  cmd->add_flag("--decode", args->decode, "feed one token at a time instead of one prefill batch");
  add_kernel_flags(*cmd, args->kernels, "");
  cmd->callback([args] { logits(*args); });
}

}  // namespace llamascope
