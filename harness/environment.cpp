#include "harness/environment.h"

#include <fmt/format.h>
#include <gnu/libc-version.h>
#include <immintrin.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <CLI/Version.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#ifdef LLAMASCOPE_HAVE_ONEDNN
#include <oneapi/dnnl/dnnl.h>
#endif

#include "harness/common.h"

namespace llamascope {
namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) return {};
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string trim(std::string s) {
  const auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

// Output of a shell command (stderr discarded), trimmed; empty when it fails.
std::string command_output(const std::string& command) {
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen((command + " 2>/dev/null").c_str(), "r"), pclose);
  if (!pipe) return {};
  std::string out;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, pipe.get())) out.append(buf, n);
  return trim(out);
}

// The value of the first "key : value" line of /proc/cpuinfo with this key.
std::string cpuinfo_field(const std::string& key) {
  std::istringstream in(read_text("/proc/cpuinfo"));
  for (std::string line; std::getline(in, line);) {
    const size_t colon = line.find(':');
    if (colon != std::string::npos && trim(line.substr(0, colon)) == key) return trim(line.substr(colon + 1));
  }
  return {};
}

// The ISA features that matter to the kernels (the full flag list is long and mostly noise).
nlohmann::json isa_features() {
  static const char* interesting[] = {"sse4_2",      "avx",         "avx2",     "fma",      "f16c",
                                      "avx512f",     "avx512bw",    "avx512vl", "avx512dq", "avx512_vnni",
                                      "avx512_bf16", "avx512_fp16", "avx_vnni", "amx_tile", "amx_int8",
                                      "amx_bf16",    "neon",        "asimd",    "sve"};
  std::set<std::string> flags;
  std::istringstream words(cpuinfo_field("flags").empty() ? cpuinfo_field("Features")
                                                          : cpuinfo_field("flags"));
  for (std::string w; words >> w;) flags.insert(w);
  nlohmann::json out = nlohmann::json::array();
  for (const char* f : interesting)
    if (flags.count(f)) out.push_back(f);
  return out;
}

int physical_cores() {
  std::set<std::pair<std::string, std::string>> cores;
  std::istringstream in(read_text("/proc/cpuinfo"));
  std::string physical_id;
  for (std::string line; std::getline(in, line);) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = trim(line.substr(0, colon)), value = trim(line.substr(colon + 1));
    if (key == "physical id") physical_id = value;
    if (key == "core id") cores.insert({physical_id, value});
  }
  return cores.empty() ? logical_cpus() : static_cast<int>(cores.size());
}

nlohmann::json cache_sizes() {
  nlohmann::json out = nlohmann::json::object();
  const std::string base = "/sys/devices/system/cpu/cpu0/cache";
  for (int i = 0; i < 8; ++i) {
    const std::string dir = base + "/index" + std::to_string(i);
    const std::string level = trim(read_text(dir + "/level")), type = trim(read_text(dir + "/type"));
    std::string size = trim(read_text(dir + "/size"));
    if (level.empty() || size.empty()) continue;
    uint64_t bytes = std::strtoull(size.c_str(), nullptr, 10);
    if (size.back() == 'K') bytes *= 1024;
    if (size.back() == 'M') bytes *= 1024 * 1024;
    const std::string name = "L" + level + (type == "Data" ? "d" : type == "Instruction" ? "i" : "");
    out[name] = bytes;
  }
  return out;
}

std::string os_pretty_name() {
  std::istringstream in(read_text("/etc/os-release"));
  for (std::string line; std::getline(in, line);)
    if (line.rfind("PRETTY_NAME=", 0) == 0) {
      std::string v = line.substr(12);
      v.erase(std::remove(v.begin(), v.end(), '"'), v.end());
      return v;
    }
  return {};
}

// What the compiler tells the code about how it was compiled (CMake does not pass its flag string).
nlohmann::json compile_flags() {
  nlohmann::json f = nlohmann::json::array();
#ifdef __OPTIMIZE__
  f.push_back("optimize");
#endif
#ifdef NDEBUG
  f.push_back("NDEBUG");
#endif
#ifdef __AVX2__
  f.push_back("baseline:avx2");
#endif
#ifdef __AVX512F__
  f.push_back("baseline:avx512f");
#endif
#ifdef __SANITIZE_ADDRESS__
  f.push_back("sanitize:address");
#endif
#ifdef __FAST_MATH__
  f.push_back("fast-math");
#endif
  return f;
}

nlohmann::json git_json() {
  nlohmann::json g;
#ifdef LLAMASCOPE_GIT_REV
  g["revision"] = LLAMASCOPE_GIT_REV;
  g["revision_source"] = "build";
#else
  const std::string rev = command_output("git -C '" LLAMASCOPE_SOURCE_DIR "' rev-parse --short=12 HEAD");
  g["revision"] = rev.empty() ? nlohmann::json(nullptr) : nlohmann::json(rev);
  g["revision_source"] = "source tree at run time";
#endif
#ifdef LLAMASCOPE_GIT_DIRTY  // the tree the binary was built from, not the tree as it is now
  g["dirty"] = LLAMASCOPE_GIT_DIRTY != 0;
#else
  const std::string status =
      command_output("git -C '" LLAMASCOPE_SOURCE_DIR "' status --porcelain --untracked-files=no");
  const std::string inside =
      command_output("git -C '" LLAMASCOPE_SOURCE_DIR "' rev-parse --is-inside-work-tree");
  g["dirty"] = inside == "true" ? nlohmann::json(!status.empty()) : nlohmann::json(nullptr);
#endif
  return g;
}

nlohmann::json library_versions() {
  nlohmann::json v;
  v["fmt"] = fmt::format("{}.{}.{}", FMT_VERSION / 10000, FMT_VERSION / 100 % 100, FMT_VERSION % 100);
  v["nlohmann_json"] = fmt::format("{}.{}.{}", NLOHMANN_JSON_VERSION_MAJOR, NLOHMANN_JSON_VERSION_MINOR,
                                   NLOHMANN_JSON_VERSION_PATCH);
  v["cli11"] = CLI11_VERSION;
  v["glibc"] = gnu_get_libc_version();
#ifdef _GLIBCXX_RELEASE
  v["libstdcxx"] = _GLIBCXX_RELEASE;
#endif
#ifdef LLAMASCOPE_HAVE_ONEDNN
  const dnnl_version_t* d = dnnl_version();
  v["onednn"] = fmt::format("{}.{}.{}", d->major, d->minor, d->patch);
#else
  v["onednn"] = nullptr;
#endif
  return v;
}

// GPU and driver when an NVIDIA driver is present; null otherwise (never an error).
nlohmann::json gpu_json() {
  const std::string driver = trim(read_text("/proc/driver/nvidia/version"));
  if (driver.empty() && !std::filesystem::exists("/dev/nvidia0")) return nullptr;
  nlohmann::json g;
  g["driver"] = driver.substr(0, driver.find('\n'));
  nlohmann::json devices = nlohmann::json::array();
  std::istringstream lines(command_output(
      "nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader,nounits"));
  for (std::string line; std::getline(lines, line);) {
    std::vector<std::string> parts;
    std::stringstream s(line);
    for (std::string p; std::getline(s, p, ',');) parts.push_back(trim(p));
    if (parts.size() == 3)
      devices.push_back({{"name", parts[0]},
                         {"driver_version", parts[1]},
                         {"memory_bytes", std::strtoull(parts[2].c_str(), nullptr, 10) * 1024 * 1024}});
  }
  g["devices"] = devices;
  return g;
}

}  // namespace

// ---- machine limits ----

// Sums a buffer with `threads` threads, each reading its own contiguous share; returns bytes/s of the
// fastest of `runs` passes (the first pass after allocation also faults the pages in, so it is dropped).
double measure_read_bandwidth(size_t bytes, int threads, int runs) {
  const size_t n = bytes / sizeof(uint64_t);
  std::unique_ptr<uint64_t[]> buffer(new uint64_t[n]);
  // Touch every page from the thread that will read it, so first-touch NUMA placement matches the reads.
  auto for_each_share = [&](auto&& fn) {
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
      workers.emplace_back([&, t] {
        const size_t begin = n * t / threads, end = n * (t + 1) / threads;
        fn(begin, end);
      });
    for (auto& w : workers) w.join();
  };
  for_each_share([&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) buffer[i] = i;
  });
  std::atomic<uint64_t> sink{0};
  double best = 0;
  for (int r = 0; r < runs; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for_each_share([&](size_t begin, size_t end) {
      // Four independent sums keep the loop bound by memory, not by the add latency.
      uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      size_t i = begin;
      for (; i + 4 <= end; i += 4)
        s0 += buffer[i], s1 += buffer[i + 1], s2 += buffer[i + 2], s3 += buffer[i + 3];
      for (; i < end; ++i) s0 += buffer[i];
      sink += s0 + s1 + s2 + s3;
    });
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, static_cast<double>(n * sizeof(uint64_t)) / s);
  }
  if (sink.load() == 42) std::fprintf(stderr, " ");  // keeps the sums observable
  return best;
}

// FP32 FMA throughput of one thread: independent accumulator chains so the loop is throughput-bound.
__attribute__((target("avx2,fma"))) double fma_flops_avx2(int64_t iterations) {
  __m256 acc[10];
  for (int i = 0; i < 10; ++i) acc[i] = _mm256_set1_ps(0.001f * i);
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t it = 0; it < iterations; ++it)
    for (int i = 0; i < 10; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  __m256 sum = acc[0];
  for (int i = 1; i < 10; ++i) sum = _mm256_add_ps(sum, acc[i]);
  alignas(32) float out[8];
  _mm256_store_ps(out, sum);
  if (out[0] == 42.0f) std::fprintf(stderr, " ");
  return iterations * 10.0 * 8 * 2 / s;
}

__attribute__((target("avx512f"))) double fma_flops_avx512(int64_t iterations) {
  __m512 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_ps(0.001f * i);
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t it = 0; it < iterations; ++it)
    for (int i = 0; i < 12; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  __m512 sum = acc[0];
  for (int i = 1; i < 12; ++i) sum = _mm512_add_ps(sum, acc[i]);
  alignas(64) float out[16];
  _mm512_store_ps(out, sum);
  if (out[0] == 42.0f) std::fprintf(stderr, " ");
  return iterations * 12.0 * 16 * 2 / s;
}

double fma_flops_scalar(int64_t iterations) {
  float acc[8];
  for (int i = 0; i < 8; ++i) acc[i] = 0.001f * i;
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t it = 0; it < iterations; ++it)
    for (int i = 0; i < 8; ++i) acc[i] = acc[i] * 0.999999f + 1e-7f;
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (acc[0] + acc[7] == 42.0f) std::fprintf(stderr, " ");
  return iterations * 8.0 * 2 / s;
}

double measure_peak_flops(int threads) {
  std::vector<double> per_thread(static_cast<size_t>(threads));
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t)
    workers.emplace_back([&, t] {
      double best = 0;
      for (int r = 0; r < 3; ++r) {
        if (__builtin_cpu_supports("avx512f"))
          best = std::max(best, fma_flops_avx512(2'000'000));
        else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
          best = std::max(best, fma_flops_avx2(2'000'000));
        else
          best = std::max(best, fma_flops_scalar(4'000'000));
      }
      per_thread[static_cast<size_t>(t)] = best;
    });
  for (auto& w : workers) w.join();
  double total = 0;
  for (double f : per_thread) total += f;
  return total;
}

namespace {

uint64_t status_field_kib(const char* key) {
  std::istringstream in(read_text("/proc/self/status"));
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key, 0) == 0) return std::strtoull(line.c_str() + std::strlen(key), nullptr, 10);
  return 0;
}

}  // namespace

std::string cpu_model_name() {
  std::string name = cpuinfo_field("model name");
  if (name.empty()) name = cpuinfo_field("Model");
  return name.empty() ? "unknown" : name;
}

int logical_cpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

std::string utc_now_iso8601() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string new_run_id() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
  std::random_device rd;
  return fmt::format("{}-{:08x}", stamp, rd());
}

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

const nlohmann::json& environment_json() {
  static const nlohmann::json env = [] {
    nlohmann::json e;
    utsname u{};
    uname(&u);
    e["cpu"] = {{"model", cpu_model_name()},
                {"isa", isa_features()},
                {"logical_cpus", logical_cpus()},
                {"physical_cores", physical_cores()},
                {"caches_bytes", cache_sizes()}};
    e["memory_bytes"] =
        static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    e["os"] = {{"name", u.sysname},
               {"release", u.release},
               {"machine", u.machine},
               {"distribution", os_pretty_name()}};
    e["hostname"] = u.nodename;
    e["build"] = {{"version", LLAMASCOPE_VERSION},
                  {"compiler", LLAMASCOPE_COMPILER},
                  {"flags", compile_flags()},
                  {"build_type", LLAMASCOPE_BUILD_TYPE},
#ifdef LLAMASCOPE_CXX_FLAGS
                  {"cxx_flags", LLAMASCOPE_CXX_FLAGS},
#else
                  {"cxx_flags", nullptr},
#endif
                  {"git", git_json()}};
    e["libraries"] = library_versions();
    e["gpu"] = gpu_json();
    return e;
  }();
  return env;
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

bool reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  if (!out) return false;
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

uint64_t peak_rss_bytes() {
  if (const uint64_t kib = status_field_kib("VmHWM:")) return kib * 1024;
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<uint64_t>(usage.ru_maxrss) * 1024;
}

uint64_t current_rss_bytes() {
  return status_field_kib("VmRSS:") * 1024;
}

}  // namespace llamascope
