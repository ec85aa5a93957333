// The SentencePiece tokenizer (LLaMA's 32000-token vocabulary) on arbitrary bytes: encode, decode, and the
// UTF-8 stream the CLI prints through.
#include "engine/gguf.h"
#include "engine/tokenizer.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace llamascope;
  static const std::unique_ptr<Tokenizer> tokenizer = Tokenizer::create(
      vocabulary_from_gguf(*GgufFile::open(fuzz::golden_path("tokenizer/ggml-vocab-llama-spm.gguf"))));
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::vector<int32_t> ids = tokenizer->encode(text, size % 2 == 0);
  Utf8Stream stream;
  int32_t prev = -1;
  for (int32_t id : ids) {
    if (id < 0 || id >= tokenizer->n_tokens()) __builtin_trap();  // an id outside the vocabulary
    stream.push(tokenizer->piece(prev, id));
    prev = id;
  }
  stream.flush();
  tokenizer->decode(ids);
  return 0;
}
