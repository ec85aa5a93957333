// The machine's roofs for rooflines: read bandwidth from each cache level and from DRAM at 1 and N threads,
// and the compute peaks of the arithmetic the kernels use (FP32 FMA, int8 dot products, BF16 dot products
// where the CPU has them). Measured by `llamascope machine`, and by `profile` and `bench` when nothing is
// cached, cached per CPU model and thread count with when and under what load they were measured. Also the
// rule that picks an op's roof (the compute peak matching its arithmetic and the fastest memory level its
// working set fits) and the two limits run summaries quote.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace llamascope {

// A level the op's operands can be read from: "L1d", "L2", "L3" or "DRAM".
struct MemoryRoof {
  std::string level;
  uint64_t capacity_bytes = 0;     // one instance of the cache (0 for DRAM)
  int shared_by = 1;               // logical CPUs sharing one instance
  uint64_t working_set_bytes = 0;  // per thread, as measured
  double gbps_1 = 0, gbps_n = 0;   // 1e9 bytes/s with 1 thread and with all logical CPUs
};

// A compute peak: "fp32_fma", "int8_dot", "bf16_dot". Rates count 2 operations per multiply-add.
struct ComputeRoof {
  std::string name;
  std::string instruction;  // what was timed, e.g. "vpdpbusd zmm"
  double gflops_1 = 0, gflops_n = 0;
};

struct MachineRoofs {
  std::string cpu;
  int threads = 0;                 // N: the logical CPUs
  std::vector<MemoryRoof> memory;  // fastest first, DRAM last
  std::vector<ComputeRoof> compute;
  std::string measured_at;      // UTC, ISO 8601
  std::vector<double> loadavg;  // 1, 5 and 15 minute load averages when measured
  std::string source;           // "measured" or "cache"
  nlohmann::json to_json() const;
  static MachineRoofs from_json(const nlohmann::json& j);  // throws on a malformed object
};

// Cached roofs for this CPU model and thread count ($XDG_CACHE_HOME/llamascope/machine-roofs.json), else
// measured (a few seconds) and cached. `refresh` measures regardless.
MachineRoofs machine_roofs(bool refresh = false);

// Given limits (> 0; `profile --bandwidth`, `--peak-gflops`) replace the DRAM bandwidth and the FP32 peak.
void apply_given_limits(MachineRoofs& roofs, double bandwidth_gbps, double peak_gflops);

// The two numbers a run's summary compares with (bench's bandwidth fraction, profile's `machine` object):
// the DRAM read bandwidth with every logical CPU reading and the FP32 FMA peak. Both come from the roofs, so
// a machine's bandwidth is measured one way and cached in one place. `source` says where each came from:
// "given" (on the command line), "cache" or "measured".
struct MachineLimits {
  double bandwidth_gbps = 0;  // 1e9 bytes/s
  std::string bandwidth_source;
  double peak_gflops = 0;  // 1e9 FLOP/s, 2 per multiply-add
  std::string peak_source;
  int threads = 0;  // the threads the roofs' N-thread figures used
  nlohmann::json to_json() const;
};
// The limits of `roofs`, each replaced by the value given (> 0).
MachineLimits machine_limits(const MachineRoofs& roofs, double given_bandwidth_gbps,
                             double given_peak_gflops);
// Bench's limits (only the bandwidth is quoted): the given bandwidth (> 0) measures nothing; else the roofs'
// (machine_roofs(): cached, or measured once).
MachineLimits machine_bandwidth_limit(double given_bandwidth_gbps);

// The roof an op ran under, chosen from the op's arithmetic and its working set.
struct OpRoof {
  std::string compute;  // a ComputeRoof name
  double compute_gflops = 0;
  std::string memory;  // a MemoryRoof level
  double memory_gbps = 0;
};

// Which arithmetic an op's kernel does: "int8_dot" for a matmul of the simd backend over a quantized weight
// (it quantizes the activations to int8), "bf16_dot" where a kernel multiplies in BF16 (onednn on BF16 and
// quantized weights), else "fp32_fma".
std::string compute_kind(const std::string& op_kind, const std::string& backend,
                         const std::string& weight_type);

// The roof for `threads` threads: the compute peak of `kind` (fp32_fma when the machine lacks it) and the
// read bandwidth of the memory levels the op's bytes come from. Of `bytes`, `weight_bytes` are weights: each
// is read once per step with every other weight read in between, so they come from the fastest level that
// holds `weight_stream_bytes` (all the weights a step reads); the rest (activations, KV cache) from the
// fastest level that holds them. A level holds, for t threads, t x its size when per-core, its size when
// shared. A rate for t threads is min(N-thread rate, t x 1-thread rate). `memory` names the weights' level
// (and the rest's, "DRAM+L1d", when they differ); `memory_gbps` is the bytes over the time the two parts
// take at their levels' bandwidths.
OpRoof roof_for(const MachineRoofs& roofs, const std::string& kind, double bytes, double weight_bytes,
                double weight_stream_bytes, int threads);

}  // namespace llamascope
