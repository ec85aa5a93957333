// The JSON caches the harness reads back (sha256.json, machine-roofs.json) on arbitrary bytes: the generic
// reader, the machine roofs' parser (which may refuse an entry, never crash), and the model-hash lookup that
// trusts what it finds there only when it is a digest.
#include <cstdlib>

#include "harness/environment.h"
#include "harness/machine_roofs.h"
#include "harness/records.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace llamascope;
  static const std::filesystem::path cache_home = [] {
    const std::filesystem::path home = fuzz::scratch_dir() / "cache-home";
    setenv("XDG_CACHE_HOME", home.c_str(), 1);
    return home;
  }();
  static const std::filesystem::path hashed = [] {
    const std::filesystem::path p = fuzz::scratch_dir() / "hashed.bin";
    fuzz::write_file(p, reinterpret_cast<const uint8_t*>("abc"), 3);
    return p;
  }();
  const std::filesystem::path cache = cache_home / "llamascope" / "sha256.json";
  fuzz::write_file(cache, data, size);
  const nlohmann::json entries = read_json_cache(cache.string());
  for (const auto& entry : entries) {
    try {
      MachineRoofs::from_json(entry);
    } catch (const std::exception&) {
      // Refused: machine_roofs() measures again.
    }
  }
  const std::string digest = file_sha256(hashed.string());
  // A cache entry may only be used when it is 64 characters; anything else is hashed again.
  if (digest.size() != 64) __builtin_trap();
  return 0;
}
