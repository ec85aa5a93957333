// The golden tolerances reader (golden/tolerances.json) on arbitrary bytes.
#include "harness/golden.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace llamascope;
  const std::filesystem::path dir = fuzz::scratch_dir() / "golden";
  fuzz::write_file(dir / "tolerances.json", data, size);
  for (const char* types : {"F32", "Q4_0", "Q4_K:154,Q6_K:23,F32:45"})
    fuzz::expect_only_errors([&] { golden_tolerance(dir.string(), types); });
  fuzz::expect_only_errors([&] { golden_prefill_decode_limit(dir.string()); });
  return 0;
}
