// The JSON cache files the harness keeps between runs (machine roofs, model digests) and the folder they live
// in.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "harness/common.h"
#include "harness/environment.h"

namespace llamascope {

nlohmann::json read_json_cache(const std::string& path) {
  try {
    std::ifstream in(path);
    if (in) {
      nlohmann::json cache = nlohmann::json::parse(in);
      if (cache.is_object()) return cache;
    }
  } catch (const std::exception&) {
  }
  return nlohmann::json::object();
}

void write_json_cache(const std::string& path, const nlohmann::json& cache, int indent) {
  try {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    write_file_atomically(path, cache.dump(indent) + "\n");
  } catch (const std::exception&) {
  }
}

std::string cache_dir() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return std::string(xdg) + "/llamascope";
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.cache/llamascope";
  return {};
}

}  // namespace llamascope
