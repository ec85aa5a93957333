// The tokenizer of a synthesized file: a synthetic SentencePiece vocabulary, or one copied from a GGUF.
#include <fmt/format.h>

#include <memory>

#include "base/error.h"
#include "engine/gguf.h"
#include "engine/tokenizer.h"
#include "harness/synth.h"
#include "harness/synth_file.h"

namespace llamascope {

SynthVocab synthetic_vocab(int64_t n) {
  constexpr int64_t kFixed = 3 + 256;
  if (n <= kFixed)
    throw Error(fmt::format("a synthetic vocabulary needs more than {} tokens, got {}", kFixed, n));
  SynthVocab v;
  v.tokens.reserve(static_cast<size_t>(n));
  auto add = [&](std::string piece, float score, int32_t type) {
    v.tokens.push_back(std::move(piece));
    v.scores.push_back(score);
    v.types.push_back(type);
  };
  add("<unk>", 0, 2);
  add("<s>", 0, 3);
  add("</s>", 0, 3);
  for (int b = 0; b < 256; ++b) add(fmt::format("<0x{:02X}>", b), 0, 6);

  // Shorter pieces score higher, so SentencePiece merges them first, as with a trained vocabulary.
  const std::string space = "\xE2\x96\x81";  // U+2581, SentencePiece's word boundary
  float score = 0;
  auto add_normal = [&](std::string piece) {
    if (static_cast<int64_t>(v.tokens.size()) < n) add(std::move(piece), score -= 1, 1);
  };
  add_normal(space);
  for (char c = 0x21; c < 0x7F; ++c) add_normal(std::string(1, c));
  for (char c = 0x21; c < 0x7F; ++c) add_normal(space + c);
  // Then every lower-case word of 2, 3, ... letters, alone and word-initial, until the vocabulary is full.
  for (int len = 2; static_cast<int64_t>(v.tokens.size()) < n; ++len) {
    std::string word(static_cast<size_t>(len), 'a');
    while (static_cast<int64_t>(v.tokens.size()) < n) {
      add_normal(word);
      add_normal(space + word);
      int k = len - 1;
      while (k >= 0 && word[static_cast<size_t>(k)] == 'z') word[static_cast<size_t>(k--)] = 'a';
      if (k < 0) break;
      ++word[static_cast<size_t>(k)];
    }
  }
  return v;
}

namespace synth {

std::vector<GgufKeyValue> synthetic_tokenizer_metadata(int64_t vocab) {
  SynthVocab v = synthetic_vocab(vocab);
  return {{"tokenizer.ggml.model", str("llama")},
          {"tokenizer.ggml.tokens", array_of(GgufType::STRING, v.tokens)},
          {"tokenizer.ggml.scores", array_of(GgufType::FLOAT32, v.scores)},
          {"tokenizer.ggml.token_type", array_of(GgufType::INT32, v.types)},
          {"tokenizer.ggml.unknown_token_id", u32(0)},
          {"tokenizer.ggml.bos_token_id", u32(1)},
          {"tokenizer.ggml.eos_token_id", u32(2)},
          {"tokenizer.ggml.add_bos_token", scalar(GgufType::BOOL, 1)},
          {"tokenizer.ggml.add_eos_token", scalar(GgufType::BOOL, 0)}};
}

std::vector<GgufKeyValue> copied_tokenizer_metadata(const std::string& path, int64_t* vocab) {
  const std::unique_ptr<GgufFile> g = GgufFile::open(path);
  if (!g->find("tokenizer.ggml.model")) throw Error(path + ": has no tokenizer (no tokenizer.ggml.model)");
  *vocab = Tokenizer::create(vocabulary_from_gguf(*g))->n_tokens();
  std::vector<GgufKeyValue> kvs;
  for (const GgufKeyValue& kv : g->metadata())
    if (kv.key.rfind("tokenizer.", 0) == 0) kvs.push_back(kv);
  return kvs;
}

}  // namespace synth
}  // namespace llamascope
