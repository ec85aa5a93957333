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

MachineLimits machine_limits(double given_bandwidth_gbps, double given_peak_gflops) {
  MachineLimits limits;
  limits.threads = logical_cpus();
  const std::string key = fmt::format("{} x{}", cpu_model_name(), limits.threads);
  const std::string dir = cache_dir();
  const std::string cache_path = dir.empty() ? std::string() : dir + "/machine-limits.json";
  nlohmann::json cache = cache_path.empty() ? nlohmann::json::object() : read_json_cache(cache_path);
  const nlohmann::json cached =
      cache.contains(key) && cache[key].is_object() ? cache[key] : nlohmann::json::object();
  bool changed = false;

  if (given_bandwidth_gbps > 0) {
    limits.bandwidth_gbps = given_bandwidth_gbps;
    limits.bandwidth_source = "given";
  } else if (cached.contains("bandwidth_gbps") && cached["bandwidth_gbps"].is_number() &&
             cached["bandwidth_gbps"].get<double>() > 0) {
    limits.bandwidth_gbps = cached["bandwidth_gbps"].get<double>();
    limits.bandwidth_source = "cache";
  } else {
    // 1 GiB, or an eighth of the machine's memory if that is less: far beyond any last-level cache.
    const uint64_t memory =
        static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    const size_t bytes =
        static_cast<size_t>(std::min<uint64_t>(1ull << 30, std::max<uint64_t>(memory / 8, 64ull << 20)));
    limits.bandwidth_gbps = measure_read_bandwidth(bytes, limits.threads, 4) / 1e9;
    limits.bandwidth_source = "measured";
    changed = true;
  }
  if (given_peak_gflops > 0) {
    limits.peak_gflops = given_peak_gflops;
    limits.peak_source = "given";
  } else if (cached.contains("peak_gflops") && cached["peak_gflops"].is_number() &&
             cached["peak_gflops"].get<double>() > 0) {
    limits.peak_gflops = cached["peak_gflops"].get<double>();
    limits.peak_source = "cache";
  } else {
    limits.peak_gflops = measure_peak_flops(limits.threads) / 1e9;
    limits.peak_source = "measured";
    changed = true;
  }
  if (changed && !cache_path.empty()) {
    nlohmann::json entry = cached;
    if (limits.bandwidth_source == "measured") entry["bandwidth_gbps"] = limits.bandwidth_gbps;
    if (limits.peak_source == "measured") entry["peak_gflops"] = limits.peak_gflops;
    entry["measured_at"] = utc_now_iso8601();
    cache[key] = entry;
    try {
      std::filesystem::create_directories(dir);
      write_file_atomically(cache_path, cache.dump(2) + "\n");
    } catch (const std::exception&) {
      // An unwritable cache only costs a measurement next time.
    }
  }
  return limits;
}

}  // namespace llamascope
