// `llamascope machine`: prints the roofs rooflines use (harness/machine_roofs.h): read bandwidth of every
// cache level and of DRAM at 1 and N threads, and the FP32 FMA, int8 dot-product and BF16 peaks, with when
// and under what load they were measured. --json writes the cached object; --refresh measures again.
#include <fmt/format.h>

#include <memory>

#include "harness/commands.h"
#include "harness/common.h"
#include "harness/machine_roofs.h"

namespace llamascope {
namespace {

struct MachineArgs {
  bool json = false;
  bool refresh = false;
};

void print_roofs(const MachineRoofs& r) {
  std::string load;
  for (double l : r.loadavg) load += fmt::format("{}{:.2f}", load.empty() ? "" : " ", l);
  fmt::print("machine: {}, {} logical CPUs\n", r.cpu, r.threads);
  fmt::print("measured {} (load average {}), {}\n\n", r.measured_at, load.empty() ? "unknown" : load,
             r.source == "cache" ? "from the cache (--refresh measures again)" : "just measured");
  fmt::print("{:<6} {:>10} {:>10} {:>12} {:>14}\n", "read", "capacity", "working set", "1 thread",
             fmt::format("{} threads", r.threads));
  for (const MemoryRoof& m : r.memory)
    fmt::print("{:<6} {:>10} {:>10} {:>8.1f} GB/s {:>9.1f} GB/s\n", m.level,
               m.capacity_bytes ? format_bytes(static_cast<double>(m.capacity_bytes), 0) : "-",
               format_bytes(static_cast<double>(m.working_set_bytes), 0), m.gbps_1, m.gbps_n);
  fmt::print("\n{:<9} {:<24} {:>15} {:>15}\n", "peak", "instruction", "1 thread",
             fmt::format("{} threads", r.threads));
  for (const ComputeRoof& c : r.compute)
    fmt::print("{:<9} {:<24} {:>9.1f} GOP/s {:>9.1f} GOP/s\n", c.name, c.instruction, c.gflops_1, c.gflops_n);
  fmt::print("\n(GOP/s counts 2 operations per multiply-add, as the profile's FLOPs do)\n");
}

}  // namespace

void register_machine_command(CLI::App& app) {
  auto args = std::make_shared<MachineArgs>();
  auto* cmd = app.add_subcommand(
      "machine",
      "This machine's roofs: cache and DRAM read bandwidth, FP32/int8/BF16 peaks (measured, cached)");
  cmd->add_flag("--json", args->json, "print the roofs as JSON (llamascope.machine/1)");
  cmd->add_flag("--refresh", args->refresh, "measure again instead of reading the cache");
  cmd->callback([args] {
    const MachineRoofs roofs = machine_roofs(args->refresh);
    if (args->json)
      fmt::print("{}\n", roofs.to_json().dump(2));
    else
      print_roofs(roofs);
  });
}

}  // namespace llamascope
