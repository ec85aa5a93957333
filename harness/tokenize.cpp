// `llamascope tokenize`: text to token ids, printed as one JSON array on one line.
#include <fmt/format.h>

#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>

#include "base/error.h"
#include "engine/model.h"
#include "harness/commands.h"

namespace llamascope {
namespace {

struct TokenizeArgs {
  std::string model;
  std::string tokenizer;
  std::string text;
  std::string file;
  bool no_bos = false;
};

std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Only the tokenizer is loaded, so vocabulary-only GGUF files (llama.cpp's tokenizer test files) work.
void tokenize(const TokenizeArgs& args) {
  const std::unique_ptr<Tokenizer> tokenizer = load_tokenizer(args.model, args.tokenizer);
  const std::string text = args.file.empty() ? args.text : read_whole_file(args.file);
  const bool add_bos = !args.no_bos && tokenizer->vocab().add_bos;
  fmt::print("[{}]\n", fmt::join(tokenizer->encode(text, add_bos), ", "));
}

}  // namespace

void register_tokenize_command(CLI::App& app) {
  auto args = std::make_shared<TokenizeArgs>();
  auto* cmd = app.add_subcommand("tokenize", "Print the token ids of a text as a JSON array");
  cmd->add_option("-m,--model", args->model,
                  "GGUF file (a vocabulary-only GGUF works) or llama2.c checkpoint")
      ->required();
  cmd->add_option("-z,--tokenizer", args->tokenizer, "llama2.c tokenizer.bin (checkpoints only)");
  auto* text = cmd->add_option("-p,--prompt", args->text, "text to tokenize");
  auto* file = cmd->add_option("-f,--file", args->file, "file whose bytes are tokenized exactly as they are");
  text->excludes(file);
  cmd->add_flag("--no-bos", args->no_bos, "do not add the BOS token");
  cmd->callback([args] { tokenize(*args); });
}

}  // namespace llamascope
