// `llamascope kernels`: every backend compiled in, whether it is usable here (and why not), its ops and
// the weight types each op takes.
#include <fmt/format.h>

#include <memory>
#include <string>
#include <vector>

#include "harness/commands.h"
#include "kernels/backend.h"

namespace llamascope {
namespace {

const std::vector<TensorType>& weight_types() {
  static const std::vector<TensorType> types = {
      TensorType::F32,  TensorType::F16,  TensorType::BF16, TensorType::Q8_0, TensorType::Q4_0,
      TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1, TensorType::Q2_K, TensorType::Q3_K,
      TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K};
  return types;
}

void list_kernels() {
  for (const BackendEntry& entry : backend_registry()) {
    const std::string why = entry.unavailable_reason();
    fmt::print("{:<8} {}\n", entry.name, why.empty() ? "available" : "unavailable: " + why);
    fmt::print("         {}\n", entry.summary);
    if (!why.empty()) continue;
    std::unique_ptr<Backend> backend = entry.create(BackendOptions{1});
    if (const std::string d = backend->description(); !d.empty()) fmt::print("         {}\n", d);
    for (int o = 0; o < static_cast<int>(OpKind::count); ++o) {
      const OpKind op = static_cast<OpKind>(o);
      std::vector<std::string> types;
      if (op == OpKind::matmul || op == OpKind::embed) {
        for (TensorType t : weight_types())
          if (backend->supports(op, t)) types.push_back(type_name(t));
      } else if (backend->supports(op, TensorType::F32)) {
        types.push_back("F32");
      }
      fmt::print("         {:<10} {}\n", op_kind_name(op), types.empty() ? "-" : fmt::format("{}", fmt::join(types, " ")));
    }
  }
}

}  // namespace

void register_kernels_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("kernels", "List the kernel backends, their ops and tensor types");
  cmd->callback([] { list_kernels(); });
}

}  // namespace llamascope
