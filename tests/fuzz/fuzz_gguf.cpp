// GGUF reader on arbitrary bytes: the header, metadata and tensor table, every typed getter, then the
// vocabulary and the model built from them.
#include "engine/gguf.h"
#include "engine/model.h"
#include "engine/tokenizer.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace llamascope;
  const fuzz::MemoryFile file(data, size);
  fuzz::expect_only_errors([&] {
    const std::unique_ptr<GgufFile> gguf = GgufFile::open(file.path());
    for (const GgufKeyValue& kv : gguf->metadata()) {
      fuzz::expect_only_errors([&] { gguf->get_int(kv.key); });
      fuzz::expect_only_errors([&] { gguf->get_float(kv.key); });
      fuzz::expect_only_errors([&] { gguf->get_bool(kv.key); });
      fuzz::expect_only_errors([&] { gguf->get_string(kv.key); });
      fuzz::expect_only_errors([&] { gguf->get_string_array(kv.key); });
      fuzz::expect_only_errors([&] { gguf->get_float_array(kv.key); });
      fuzz::expect_only_errors([&] { gguf->get_int_array(kv.key); });
    }
    fuzz::expect_only_errors([&] {
      const std::unique_ptr<Tokenizer> tokenizer = Tokenizer::create(vocabulary_from_gguf(*gguf));
      tokenizer->decode(tokenizer->encode("Hello world, \xe4\xb8\x96\xe7\x95\x8c 42", true));
    });
  });
  fuzz::expect_only_errors([&] { load_model(file.path()); });
  return 0;
}
