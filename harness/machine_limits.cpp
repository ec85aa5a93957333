// This machine's limits (memory bandwidth, FP32 peak) as records quote them, and the JSON cache they are
// kept in between runs.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
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

nlohmann::json MachineLimits::to_json() const {
  return {{"bandwidth_gbps", bandwidth_gbps},
          {"bandwidth_source", bandwidth_source},
          {"peak_gflops", peak_gflops},
          {"peak_source", peak_source},
          {"threads", threads}};
}

namespace {

// One limit: the value given on the command line (> 0), else the cached one, else measure()'s; returns where
// it came from ("given", "cache", "measured").
template <typename Measure>
const char* resolve_limit(double given, const nlohmann::json& cached, const char* key, double& value,
                          Measure measure) {
  if (given > 0) {
    value = given;
    return "given";
  }
  if (cached.contains(key) && cached[key].is_number() && cached[key].get<double>() > 0) {
    value = cached[key].get<double>();
    return "cache";
  }
  value = measure();
  return "measured";
}

}  // namespace

MachineLimits machine_limits(double given_bandwidth_gbps, double given_peak_gflops) {
  MachineLimits limits;
  limits.threads = logical_cpus();
  const std::string key = fmt::format("{} x{}", cpu_model_name(), limits.threads);
  const std::string dir = cache_dir();
  const std::string cache_path = dir.empty() ? std::string() : dir + "/machine-limits.json";
  nlohmann::json cache = cache_path.empty() ? nlohmann::json::object() : read_json_cache(cache_path);
  const nlohmann::json cached =
      cache.contains(key) && cache[key].is_object() ? cache[key] : nlohmann::json::object();
  limits.bandwidth_source =
      resolve_limit(given_bandwidth_gbps, cached, "bandwidth_gbps", limits.bandwidth_gbps, [&] {
        // 1 GiB, or an eighth of the machine's memory if that is less: far beyond any last-level cache.
        const uint64_t memory =
            static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
        const size_t bytes =
            static_cast<size_t>(std::min<uint64_t>(1ull << 30, std::max<uint64_t>(memory / 8, 64ull << 20)));
        return measure_read_bandwidth(bytes, limits.threads, 4) / 1e9;
      });
  limits.peak_source = resolve_limit(given_peak_gflops, cached, "peak_gflops", limits.peak_gflops,
                                     [&] { return measure_peak_flops(limits.threads) / 1e9; });
  const bool changed = limits.bandwidth_source == "measured" || limits.peak_source == "measured";
  if (changed && !cache_path.empty()) {
    nlohmann::json entry = cached;
    if (limits.bandwidth_source == "measured") entry["bandwidth_gbps"] = limits.bandwidth_gbps;
    if (limits.peak_source == "measured") entry["peak_gflops"] = limits.peak_gflops;
    entry["measured_at"] = utc_now_iso8601();
    cache[key] = entry;
    write_json_cache(cache_path, cache, 2);
  }
  return limits;
}

}  // namespace llamascope
