// The machine and build a record was made on, the time and run id it carries, and this process's memory.
#include "harness/environment.h"

#include <fmt/format.h>
#include <gnu/libc-version.h>
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

namespace {

// The current UTC time in strftime's `format`.
std::string utc_now(const char* format) {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}

}  // namespace

std::string utc_now_iso8601() {
  return utc_now("%Y-%m-%dT%H:%M:%SZ");
}

std::string new_run_id() {
  const std::string stamp = utc_now("%Y%m%dT%H%M%SZ");
  std::random_device rd;
  return fmt::format("{}-{:08x}", stamp, rd());
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
