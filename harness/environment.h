// Environment capture for result records (DESIGN.md, "Result records"): the machine (CPU model and ISA
// features, cores, memory, OS, GPU and driver when present), the build (compiler, flags, build type, git
// revision and dirty flag, library versions). Also the folder where measurements are cached between runs,
// and the process's peak resident memory, resettable per measured row.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace llamascope {

// The `environment` object every run record carries (docs/results.md). Captured once per process; the
// fields are stable, the values describe this machine and build.
const nlohmann::json& environment_json();

// "AMD EPYC 7B13" (from /proc/cpuinfo), or "unknown".
std::string cpu_model_name();
// Logical CPUs this process may run on.
int logical_cpus();

// A fresh identifier shared by every record of one invocation: UTC time plus 32 random bits,
// e.g. "20261123T035012Z-9f1c04ab".
std::string new_run_id();
// Now, UTC, ISO 8601 with seconds: "2026-11-23T03:50:12Z".
std::string utc_now_iso8601();

// The microbenchmarks behind the machine's roofs (harness/machine_roofs.h): bytes/s of `threads` threads
// reading a `bytes` buffer (best of `runs`), the portable DRAM reader where the vector loops are missing, and
// the FP32 FMA FLOP/s of `threads` threads.
double measure_read_bandwidth(size_t bytes, int threads, int runs);
double measure_peak_flops(int threads);

// The cache folder ($XDG_CACHE_HOME/llamascope or ~/.cache/llamascope); empty when neither is set.
std::string cache_dir();
// The JSON object stored at `path` (a cache file), or an empty object when it is absent, empty or damaged.
nlohmann::json read_json_cache(const std::string& path);
// Writes a cache file (creating its folder, replacing it atomically); a cache that cannot be written only
// costs the work again next time, so failures are ignored.
void write_json_cache(const std::string& path, const nlohmann::json& cache, int indent);

// Peak resident memory. reset_peak_rss() asks the kernel to restart VmHWM (writing 5 to
// /proc/self/clear_refs); when it cannot, peaks are the process's since start and `peak_rss_scope()`
// says "process" instead of "row".
bool reset_peak_rss();
uint64_t peak_rss_bytes();  // VmHWM, else getrusage's ru_maxrss
uint64_t current_rss_bytes();

}  // namespace llamascope
