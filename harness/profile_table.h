// The per-op summary table of `llamascope profile`: time share, achieved GB/s and GFLOP/s, and how close
// each op came to its own roofs (harness/machine_roofs.h: the compute peak matching its arithmetic, the
// bandwidth of the memory level its working set fits in).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/machine_roofs.h"

namespace llamascope {

// One op name's totals over a phase. The roof times are what the op would take at its roofs: the sums over
// its calls of bytes / roof bandwidth and FLOPs / roof peak, so roof time / time is its fraction of the roof.
struct OpTotals {
  uint64_t ns = 0;
  double bytes = 0, flops = 0;
  double memory_roof_s = 0, compute_roof_s = 0;
  int calls = 0;
  std::string roof;  // "int8_dot/L2" of the last call
  void add(uint64_t op_ns, double op_bytes, double op_flops, const OpRoof& r);
};

void print_op_table(const char* title, const std::map<std::string, OpTotals>& totals,
                    const std::vector<std::string>& order);
// Decode time per layer (layer -1: the ops outside the layers).
void print_layer_table(const std::map<int, uint64_t>& layer_ns);
// The --overhead result (the profile record's `overhead`), when there is one.
void print_overhead(const nlohmann::json& overhead);

}  // namespace llamascope
