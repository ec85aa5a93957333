// llama2.c tokenizer.bin reader on arbitrary bytes; the first byte picks the vocabulary size asked for
// (llama2.c takes it from the checkpoint), and a vocabulary that loads tokenizes and decodes a sentence.
#include "engine/llama2c.h"
#include "engine/tokenizer.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace llamascope;
  if (size < 1) return 0;
  const int32_t sizes[] = {512, 259, 300, 1, 0, -1, 32000, 1 << 30};
  const int32_t vocab_size = sizes[data[0] % std::size(sizes)];
  const fuzz::MemoryFile file(data + 1, size - 1);
  fuzz::expect_only_errors([&] {
    const std::unique_ptr<Tokenizer> tokenizer =
        Tokenizer::create(vocabulary_from_llama2c(file.path(), vocab_size));
    const std::vector<int32_t> ids = tokenizer->encode("Once upon a time, \xc3\xa9t\xc3\xa9 <0x0A>", true);
    tokenizer->decode(ids);
  });
  return 0;
}
