// The golden manifest reader (golden/llamacpp/manifest.json) on arbitrary bytes.
#include "harness/golden.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace llamascope;
  const std::filesystem::path dir = fuzz::scratch_dir() / "golden";
  fuzz::write_file(dir / "llamacpp" / "manifest.json", data, size);
  fuzz::expect_only_errors([&] { load_golden_cases(dir.string()); });
  return 0;
}
