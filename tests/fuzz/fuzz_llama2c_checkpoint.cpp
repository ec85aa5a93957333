// llama2.c checkpoint reader (run.c's .bin) on arbitrary bytes, alone and as a model.
#include "engine/llama2c.h"
#include "engine/model.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace llamascope;
  const fuzz::MemoryFile file(data, size);
  fuzz::expect_only_errors([&] { load_llama2c_checkpoint(file.path()); });
  // With the bundled 512-token tokenizer, so a checkpoint that passes goes on to the model's checks.
  fuzz::expect_only_errors([&] { load_model(file.path(), fuzz::golden_path("models/tok512.bin")); });
  return 0;
}
