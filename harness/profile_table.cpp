#include "harness/profile_table.h"

#include <fmt/format.h>

#include <algorithm>

namespace llamascope {

void OpTotals::add(uint64_t op_ns, double op_bytes, double op_flops, const OpRoof& r) {
  ns += op_ns, bytes += op_bytes, flops += op_flops, ++calls;
  if (r.memory_gbps > 0) memory_roof_s += op_bytes / (r.memory_gbps * 1e9);
  if (r.compute_gflops > 0) compute_roof_s += op_flops / (r.compute_gflops * 1e9);
  roof = r.compute + "/" + r.memory;
}

void print_op_table(const char* title, const std::map<std::string, OpTotals>& totals,
                    const std::vector<std::string>& order) {
  uint64_t all = 0;
  for (const auto& [name, t] : totals) all += t.ns;
  if (all == 0) return;
  fmt::print("\n{} (all layers; each op against its own roofs):\n", title);
  fmt::print("{:<12} {:>6} {:>11} {:>7} {:>9} {:>9} {:>7} {:>7}  {}\n", "op", "calls", "total ms", "share",
             "GB/s", "GFLOP/s", "of BW", "of peak", "roof (peak/memory)");
  for (const std::string& name : order) {
    const auto it = totals.find(name);
    if (it == totals.end()) continue;
    const OpTotals& t = it->second;
    const double s = t.ns * 1e-9;
    fmt::print("{:<12} {:>6} {:>11.3f} {:>6.1f}% {:>9.2f} {:>9.2f} {:>6.1f}% {:>6.1f}%  {}\n", name, t.calls,
               t.ns / 1e6, 100.0 * t.ns / all, t.bytes / s / 1e9, t.flops / s / 1e9,
               100 * t.memory_roof_s / s, 100 * t.compute_roof_s / s, t.roof);
  }
  // The op furthest from both of its roofs among those that matter (>= 2 % of the time).
  std::string worst;
  double worst_fraction = 2;
  for (const auto& [name, t] : totals) {
    if (t.ns < all / 50) continue;
    const double fraction = std::max(t.memory_roof_s, t.compute_roof_s) / (t.ns * 1e-9);
    if (fraction < worst_fraction) worst_fraction = fraction, worst = name;
  }
  if (!worst.empty())
    fmt::print("furthest from its roofs: {} at {:.1f}% of the nearer roof (bandwidth or peak)\n", worst,
               100 * worst_fraction);
}

void print_layer_table(const std::map<int, uint64_t>& layer_ns) {
  if (layer_ns.empty()) return;
  uint64_t all = 0;
  for (const auto& [layer, ns] : layer_ns) all += ns;
  fmt::print("\ndecode, per layer:\n{:<8} {:>11} {:>7}\n", "layer", "total ms", "share");
  for (const auto& [layer, ns] : layer_ns)
    fmt::print("{:<8} {:>11.3f} {:>6.1f}%\n", layer < 0 ? std::string("outside") : std::to_string(layer),
               ns / 1e6, 100.0 * ns / all);
}

void print_overhead(const nlohmann::json& overhead) {
  if (overhead.is_null()) return;
  fmt::print(
      "\nprofiling overhead: decode {:.2f} tok/s with per-op timing off, {:.2f} on (medians of {} rounds): "
      "{:.2f}% slower (median of the paired rounds' ratios)\n",
      overhead["tokens_per_second_off"]["median"].get<double>(),
      overhead["tokens_per_second_on"]["median"].get<double>(), overhead["rounds"].get<int>(),
      100 * overhead["slowdown"].get<double>());
}

}  // namespace llamascope
