#include "harness/machine_roofs.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <barrier>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <new>
#include <sstream>
#include <thread>

#include "base/error.h"
#include "harness/common.h"
#include "harness/environment.h"
#include "harness/machine_roofs_isa.h"

namespace llamascope {
namespace {

std::string sysfs_text(const std::string& path) {
  std::ifstream in(path);
  std::string s;
  std::getline(in, s);
  return s;
}

// CPUs in a sysfs list such as "0-3,8-11".
int cpu_list_count(const std::string& list) {
  int count = 0;
  std::stringstream s(list);
  for (std::string part; std::getline(s, part, ',');) {
    const size_t dash = part.find('-');
    count += dash == std::string::npos ? 1 : std::atoi(part.c_str() + dash + 1) - std::atoi(part.c_str()) + 1;
  }
  return std::max(count, 1);
}

// The data caches of CPU 0, fastest first (L1d, L2, L3), from sysfs.
std::vector<MemoryRoof> cache_levels() {
  std::vector<MemoryRoof> levels;
  for (int i = 0; i < 8; ++i) {
    const std::string dir = fmt::format("/sys/devices/system/cpu/cpu0/cache/index{}", i);
    const std::string level = sysfs_text(dir + "/level"), type = sysfs_text(dir + "/type");
    const std::string size = sysfs_text(dir + "/size");
    if (level.empty() || size.empty() || type == "Instruction") continue;
    uint64_t bytes = std::strtoull(size.c_str(), nullptr, 10);
    if (size.back() == 'K') bytes *= 1024;
    if (size.back() == 'M') bytes *= 1024 * 1024;
    MemoryRoof m;
    m.level = "L" + level + (type == "Data" ? "d" : "");
    m.capacity_bytes = bytes;
    m.shared_by = cpu_list_count(sysfs_text(dir + "/shared_cpu_list"));
    levels.push_back(m);
  }
  std::sort(levels.begin(), levels.end(),
            [](const MemoryRoof& a, const MemoryRoof& b) { return a.capacity_bytes < b.capacity_bytes; });
  return levels;
}

// Sum over `threads` threads, started together, of each thread's best rate over `runs` calls of `rate`.
double parallel_rate(int threads, int runs, const std::function<double(int)>& rate) {
  std::vector<double> best(static_cast<size_t>(threads), 0.0);
  std::barrier sync(threads);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t)
    workers.emplace_back([&, t] {
      for (int r = 0; r < runs; ++r) {
        sync.arrive_and_wait();
        best[static_cast<size_t>(t)] = std::max(best[static_cast<size_t>(t)], rate(t));
      }
    });
  for (auto& w : workers) w.join();
  double total = 0;
  for (double b : best) total += b;
  return total;
}

bool has_avx512() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
}
bool has_avx2() {
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

// Thread t's buffer of `bytes` (64-byte aligned), allocated and filled on its first use; the caller frees
// every buffer with ::operator delete(b, std::align_val_t(64)).
void* thread_buffer(std::vector<void*>& buffers, int t, size_t bytes) {
  void*& buf = buffers[static_cast<size_t>(t)];
  if (!buf) {
    buf = ::operator new(bytes, std::align_val_t(64));
    std::fill_n(static_cast<uint8_t*>(buf), bytes, static_cast<uint8_t>(t + 1));
  }
  return buf;
}

// Seconds to read `bytes` at p `passes` times with the widest vector loads the CPU has; `sink` keeps the
// loads from being optimised away.
double timed_read(const void* p, size_t bytes, int passes, uint64_t& sink) {
  const auto t0 = std::chrono::steady_clock::now();
  const uint64_t s = has_avx512() ? roofs::read_avx512(p, bytes, passes)
                     : has_avx2() ? roofs::read_avx2(p, bytes, passes)
                                  : 0;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (s == 42) sink += s;
  return secs;
}

// Bytes/s of `threads` threads each reading its own `bytes`-sized buffer over and over (cache-resident): the
// best window of about 4 MiB read, over 5 runs of about 128 MiB. Ops last well under a millisecond, and on a
// shared machine (a neighbour's traffic through a shared L3) a long average sits below what they reach.
double cache_read_rate(size_t bytes, int threads) {
  bytes = std::max<size_t>(bytes / 256 * 256, 256);
  std::vector<void*> buffers(static_cast<size_t>(threads));
  const int window_passes = static_cast<int>(std::max<size_t>(1, (size_t{4} << 20) / bytes));
  const int windows = static_cast<int>(std::max<size_t>(1, (size_t{128} << 20) / bytes / window_passes));
  uint64_t sink = 0;
  const double rate = parallel_rate(threads, 5, [&](int t) {
    const void* buf = thread_buffer(buffers, t, bytes);
    double best = 0;
    for (int w = 0; w < windows; ++w)
      best = std::max(
          best, static_cast<double>(bytes) * window_passes / timed_read(buf, bytes, window_passes, sink));
    return best;
  });
  for (void* b : buffers) ::operator delete(b, std::align_val_t(64));
  if (sink == 1) std::fprintf(stderr, " ");
  return rate;
}

// Bytes/s of `threads` threads streaming through their shares of a `bytes` buffer far beyond the caches:
// the best 4 MiB window of three passes per thread, summed. An op lasts a fraction of a millisecond, so its
// roof is the best short-window rate; a long average on a shared machine would sit below what ops reach.
double dram_burst_rate(size_t bytes, int threads) {
  const size_t share = bytes / static_cast<size_t>(threads) / 256 * 256;
  const size_t window = std::min<size_t>(share, size_t{4} << 20);
  std::vector<void*> buffers(static_cast<size_t>(threads));
  uint64_t sink = 0;
  const double rate = parallel_rate(threads, 3, [&](int t) {
    const uint8_t* buf = static_cast<const uint8_t*>(thread_buffer(buffers, t, share));
    double best = 0;
    for (size_t off = 0; off + window <= share; off += window)
      best = std::max(best, static_cast<double>(window) / timed_read(buf + off, window, 1, sink));
    return best;
  });
  for (void* b : buffers) ::operator delete(b, std::align_val_t(64));
  if (sink == 1) std::fprintf(stderr, " ");
  return rate;
}

void measure_memory(MachineRoofs& r) {
  const int n = r.threads;
  for (MemoryRoof m : cache_levels()) {
    if (!has_avx2()) break;  // the cache loops are vector loops
    // Two working sets that live in this level: the smallest (twice the level below; half of L1d) and half of
    // one thread's share with N threads; the faster counts, as a roof is an upper bound.
    const uint64_t lower = r.memory.empty() ? 0 : r.memory.back().capacity_bytes;
    const uint64_t large = m.capacity_bytes / std::min(m.shared_by, n) / 2;
    if (large <= lower) continue;
    for (const uint64_t working_set : {lower ? std::min(2 * lower, large) : large, large}) {
      const double one = cache_read_rate(working_set, 1) / 1e9;
      const double all = n == 1 ? one : cache_read_rate(working_set, n) / 1e9;
      if (all > m.gbps_n) m.working_set_bytes = working_set;
      m.gbps_1 = std::max(m.gbps_1, one), m.gbps_n = std::max(m.gbps_n, all);
      if (working_set == large) break;
    }
    r.memory.push_back(m);
  }
  // DRAM: 1 GiB, or an eighth of the memory if less: far beyond any last-level cache.
  const uint64_t memory = static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGE_SIZE);
  const size_t bytes = std::min<uint64_t>(uint64_t{1} << 30, memory / 8);
  MemoryRoof dram;
  dram.level = "DRAM";
  dram.shared_by = n;
  dram.working_set_bytes = bytes / n;
  auto dram_rate = [&](int threads) {  // the window loops are vector loops; else bench's scalar reader
    return (has_avx2() ? dram_burst_rate(bytes, threads) : measure_read_bandwidth(bytes, threads, 3)) / 1e9;
  };
  dram.gbps_1 = dram_rate(1);
  dram.gbps_n = n == 1 ? dram.gbps_1 : dram_rate(n);
  r.memory.push_back(dram);
}

void measure_compute(MachineRoofs& r) {
  const int n = r.threads;
  r.compute.push_back({"fp32_fma",
                       has_avx512() ? "vfmadd ps zmm"
                       : has_avx2() ? "vfmadd ps ymm"
                                    : "scalar",
                       measure_peak_flops(1) / 1e9, measure_peak_flops(n) / 1e9});
  auto both = [&](const std::function<double()>& one) {
    return std::make_pair(parallel_rate(1, 3, [&](int) { return one(); }) / 1e9,
                          parallel_rate(n, 3, [&](int) { return one(); }) / 1e9);
  };
  ComputeRoof int8{"int8_dot", "", 0, 0};
  if (has_avx2()) {
    const auto [one, all] = both([] { return roofs::int8_maddubs_avx2(4'000'000); });
    int8 = {"int8_dot", "vpmaddubsw+vpmaddwd ymm", one, all};
  }
  if (has_avx512() && __builtin_cpu_supports("avx512vnni")) {
    const auto [one, all] = both([] { return roofs::int8_vnni_avx512(2'000'000); });
    if (all > int8.gflops_n) int8 = {"int8_dot", "vpdpbusd zmm", one, all};
  }
  if (int8.gflops_n > 0) r.compute.push_back(int8);
  if (has_avx512() && __builtin_cpu_supports("avx512bf16")) {
    const auto [one, all] = both([] { return roofs::bf16_dot_avx512(2'000'000); });
    r.compute.push_back({"bf16_dot", "vdpbf16ps zmm", one, all});
  }
}

MachineRoofs measure() {
  MachineRoofs r;
  r.cpu = cpu_model_name();
  r.threads = logical_cpus();
  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) == 3) r.loadavg = {load[0], load[1], load[2]};
  measure_memory(r);
  measure_compute(r);
  r.measured_at = utc_now_iso8601();
  r.source = "measured";
  return r;
}

}  // namespace

nlohmann::json MachineRoofs::to_json() const {
  nlohmann::json mem = nlohmann::json::array(), comp = nlohmann::json::array();
  for (const MemoryRoof& m : memory)
    mem.push_back({{"level", m.level},
                   {"capacity_bytes", m.capacity_bytes},
                   {"shared_by", m.shared_by},
                   {"working_set_bytes", m.working_set_bytes},
                   {"gbps_1", m.gbps_1},
                   {"gbps_n", m.gbps_n}});
  for (const ComputeRoof& c : compute)
    comp.push_back({{"name", c.name},
                    {"instruction", c.instruction},
                    {"gflops_1", c.gflops_1},
                    {"gflops_n", c.gflops_n}});
  return {{"schema", "llamascope.machine/1"},
          {"cpu", cpu},
          {"threads", threads},
          {"memory", mem},
          {"compute", comp},
          {"measured_at", measured_at},
          {"loadavg", loadavg},
          {"source", source}};
}

MachineRoofs MachineRoofs::from_json(const nlohmann::json& j) {
  // Another schema was measured another way: measure again rather than mix methods.
  if (j.value("schema", "") != "llamascope.machine/1") throw Error("machine roofs of another schema");
  MachineRoofs r;
  r.cpu = j.at("cpu").get<std::string>();
  // Integers through json_integer: a float out of int's range (a damaged cache) must not be cast.
  constexpr int64_t kMaxBytes = int64_t{1} << 50;
  r.threads = static_cast<int>(json_integer(j.at("threads"), 1, 1 << 20, "threads"));
  for (const auto& m : j.at("memory"))
    r.memory.push_back(
        {m.at("level").get<std::string>(),
         static_cast<uint64_t>(json_integer(m.at("capacity_bytes"), 0, kMaxBytes, "capacity_bytes")),
         static_cast<int>(json_integer(m.at("shared_by"), 1, 1 << 20, "shared_by")),
         static_cast<uint64_t>(json_integer(m.at("working_set_bytes"), 0, kMaxBytes, "working_set_bytes")),
         m.at("gbps_1").get<double>(), m.at("gbps_n").get<double>()});
  for (const auto& c : j.at("compute"))
    r.compute.push_back({c.at("name").get<std::string>(), c.at("instruction").get<std::string>(),
                         c.at("gflops_1").get<double>(), c.at("gflops_n").get<double>()});
  r.measured_at = j.at("measured_at").get<std::string>();
  r.loadavg = j.at("loadavg").get<std::vector<double>>();
  r.source = j.value("source", "cache");
  if (r.memory.empty() || r.compute.empty() || r.threads < 1) throw Error("incomplete machine roofs");
  return r;
}

MachineRoofs machine_roofs(bool refresh) {
  const std::string key = fmt::format("{} x{}", cpu_model_name(), logical_cpus());
  const std::string dir = cache_dir();
  const std::string path = dir.empty() ? std::string() : dir + "/machine-roofs.json";
  nlohmann::json cache = path.empty() ? nlohmann::json::object() : read_json_cache(path);
  if (!refresh && cache.contains(key)) {
    try {
      MachineRoofs r = MachineRoofs::from_json(cache[key]);
      r.source = "cache";
      return r;
    } catch (const std::exception&) {
      // A damaged entry is measured again.
    }
  }
  const MachineRoofs r = measure();
  if (!path.empty()) {
    cache[key] = r.to_json();
    write_json_cache(path, cache, 2);
  }
  return r;
}

void apply_given_limits(MachineRoofs& roofs, double bandwidth_gbps, double peak_gflops) {
  for (MemoryRoof& m : roofs.memory)
    if (m.level == "DRAM" && bandwidth_gbps > 0) m.gbps_1 = m.gbps_n = bandwidth_gbps;
  for (ComputeRoof& c : roofs.compute)
    if (c.name == "fp32_fma" && peak_gflops > 0) c.gflops_1 = c.gflops_n = peak_gflops;
}

nlohmann::json MachineLimits::to_json() const {
  return {{"bandwidth_gbps", bandwidth_gbps},
          {"bandwidth_source", bandwidth_source},
          {"peak_gflops", peak_gflops},
          {"peak_source", peak_source},
          {"threads", threads}};
}

MachineLimits machine_limits(const MachineRoofs& roofs, double given_bandwidth_gbps,
                             double given_peak_gflops) {
  MachineLimits limits;
  limits.threads = roofs.threads;
  limits.bandwidth_source = limits.peak_source = roofs.source;
  for (const MemoryRoof& m : roofs.memory)
    if (m.level == "DRAM") limits.bandwidth_gbps = m.gbps_n;
  for (const ComputeRoof& c : roofs.compute)
    if (c.name == "fp32_fma") limits.peak_gflops = c.gflops_n;
  if (given_bandwidth_gbps > 0)
    limits.bandwidth_gbps = given_bandwidth_gbps, limits.bandwidth_source = "given";
  if (given_peak_gflops > 0) limits.peak_gflops = given_peak_gflops, limits.peak_source = "given";
  return limits;
}

MachineLimits machine_bandwidth_limit(double given_bandwidth_gbps) {
  if (given_bandwidth_gbps <= 0) return machine_limits(machine_roofs(), 0, 0);
  MachineLimits limits;
  limits.bandwidth_gbps = given_bandwidth_gbps;
  limits.bandwidth_source = "given";
  limits.threads = logical_cpus();
  return limits;
}

std::string compute_kind(const std::string& op_kind, const std::string& backend,
                         const std::string& weight_type) {
  if (op_kind != "matmul") return "fp32_fma";
  // oneDNN multiplies BF16 and every quantized type in BF16 (codes widened, docs/kernels.md); F32 and F16
  // (f16 weights, f32 activations) in float32.
  if (backend.find("onednn") != std::string::npos)
    return weight_type == "F32" || weight_type == "F16" || weight_type.empty() ? "fp32_fma" : "bf16_dot";
  if (backend.find("simd") == std::string::npos) return "fp32_fma";
  for (const char* t : {"Q4_0", "Q8_0", "Q4_K", "Q5_K", "Q6_K"})
    if (weight_type.find(t) != std::string::npos) return "int8_dot";
  return "fp32_fma";
}

OpRoof roof_for(const MachineRoofs& roofs, const std::string& kind, double bytes, double weight_bytes,
                double weight_stream_bytes, int threads) {
  const int t = std::clamp(threads, 1, std::max(roofs.threads, 1));
  auto rate = [&](double one, double all) { return std::min(all, one * t); };
  OpRoof out;
  for (const ComputeRoof& c : roofs.compute)
    if (c.name == kind || (out.compute.empty() && c.name == "fp32_fma"))
      out.compute = c.name, out.compute_gflops = rate(c.gflops_1, c.gflops_n);
  auto level_for = [&](double working_set) -> const MemoryRoof* {
    for (const MemoryRoof& m : roofs.memory) {
      const double per_instance_threads = std::min(m.shared_by, t);
      if (m.level == "DRAM" || working_set <= m.capacity_bytes * (t / per_instance_threads)) return &m;
    }
    return roofs.memory.empty() ? nullptr : &roofs.memory.back();
  };
  weight_bytes = std::clamp(weight_bytes, 0.0, bytes);
  const double rest = bytes - weight_bytes;
  const MemoryRoof* w = weight_bytes > 0 ? level_for(std::max(weight_bytes, weight_stream_bytes)) : nullptr;
  const MemoryRoof* a = rest > 0 || !w ? level_for(rest) : nullptr;
  double seconds = 0;
  if (w) seconds += weight_bytes / (rate(w->gbps_1, w->gbps_n) * 1e9);
  if (a) seconds += rest / (rate(a->gbps_1, a->gbps_n) * 1e9);
  out.memory = w ? w->level : a ? a->level : "";
  if (w && a && a != w) out.memory += "+" + a->level;
  if (!w && a && bytes <= 0) out.memory_gbps = rate(a->gbps_1, a->gbps_n);
  if (seconds > 0) out.memory_gbps = bytes / seconds / 1e9;
  return out;
}

}  // namespace llamascope
