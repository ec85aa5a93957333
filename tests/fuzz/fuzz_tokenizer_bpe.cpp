// The byte-level BPE tokenizer (GPT-2's vocabulary) on arbitrary bytes: encode, decode (byte-level BPE
// gives the bytes back exactly), and both pre-tokenizers alone.
#include "engine/gguf.h"
#include "engine/tokenizer.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace llamascope;
  static const std::unique_ptr<Tokenizer> tokenizer = Tokenizer::create(
      vocabulary_from_gguf(*GgufFile::open(fuzz::golden_path("tokenizer/ggml-vocab-gpt-2.gguf"))));
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::vector<int32_t> ids = tokenizer->encode(text, false);
  for (int32_t id : ids)
    if (id < 0 || id >= tokenizer->n_tokens()) __builtin_trap();  // an id outside the vocabulary
  tokenizer->decode(ids);
  for (const char* pre : {"default", "llama-bpe"}) bpe_pre_tokenize(text, pre);
  return 0;
}
