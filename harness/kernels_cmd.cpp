// `llamascope kernels`: every backend compiled in, whether it is usable here (and why not), its ops and
// the weight types each op takes; with --check, the op checker (kernels/op_check.h), all of its cases or the
// one --case names.
#include <fmt/format.h>

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "base/error.h"
#include "harness/commands.h"
#include "harness/records.h"
#include "kernels/backend.h"
#include "kernels/op_check.h"

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
      fmt::print("         {:<10} {}\n", op_kind_name(op),
                 types.empty() ? "-" : fmt::format("{}", fmt::join(types, " ")));
    }
  }
}

struct CheckArgs {
  bool check = false;
  std::string backends;  // comma list; empty = every available backend
  std::string filter;    // substring of OpDesc::str()
  std::string one_case;  // --case: OpDesc::str() of the one case to run
  int threads = 2;
  bool verbose = false;
};

// Runs the op checker; one line per case, naming it as --case takes it back (failures always, with the
// command that re-runs them; passes and skips with -v), and a closing count.
void run_checks(const CheckArgs& args) {
  std::vector<std::string> names;
  if (args.backends.empty()) {
    for (const BackendEntry& e : backend_registry())
      if (e.unavailable_reason().empty()) names.push_back(e.name);
  } else {
    std::stringstream list(args.backends);
    for (std::string name; std::getline(list, name, ',');) names.push_back(name);
  }
  std::vector<OpDesc> cases;
  if (!args.one_case.empty()) {
    cases.push_back(OpDesc::parse(args.one_case));  // already validated by the option's check
  } else {
    for (const OpDesc& c : default_op_cases())
      if (args.filter.empty() || c.str().find(args.filter) != std::string::npos) cases.push_back(c);
  }
  int passed = 0, failed = 0, skipped = 0;
  for (const std::string& name : names) {
    const BackendEntry* entry = find_backend(name);
    if (!entry) throw Error("--check: unknown backend '" + name + "'");
    if (const std::string why = entry->unavailable_reason(); !why.empty())
      throw Error("--check: backend '" + name + "' is unavailable here: " + why);
    std::unique_ptr<Backend> backend = entry->create(BackendOptions{args.threads});
    for (const OpDesc& c : cases) {
      const OpCheckResult r = check_op(*backend, c);
      if (!r.supported) {
        ++skipped;
        if (args.verbose)
          fmt::print("skip {:<8} {:<62} (not offered by the backend)\n", name, shell_quote(c.str()));
        continue;
      }
      r.passed() ? ++passed : ++failed;
      if (!r.passed() || args.verbose)
        fmt::print("{} {:<8} {:<62} nmse={:.3g} limit={:.0e}{}{}\n", r.passed() ? "ok  " : "FAIL", name,
                   shell_quote(c.str()), r.nmse, r.limit, r.finite ? "" : " NaN/Inf",
                   r.guards_intact ? "" : " out-of-bounds write");
      if (!r.passed())
        fmt::print("     re-run: {} kernels --check -k {} -t {} --case {}\n", shell_quote(program_path()),
                   shell_quote(name), args.threads, shell_quote(c.str()));
    }
  }
  fmt::print("op check: {} passed, {} failed, {} skipped (op/type not offered by the backend)\n", passed,
             failed, skipped);
  fmt::print("{} passed, {} failed\n", passed, failed);
  if (failed) command_exit_status() = 1;
}

}  // namespace

void register_kernels_command(CLI::App& app) {
  auto args = std::make_shared<CheckArgs>();
  auto* cmd = app.add_subcommand("kernels",
                                 "List the kernel backends, their ops and tensor types; --check proves them");
  cmd->add_flag("--check", args->check, "run the op checker against the float64 reference");
  cmd->add_option("-k,--kernels", args->backends, "backends to check (comma list; default: all available)");
  auto* filter = cmd->add_option("--filter", args->filter,
                                 "only cases whose description contains this text, e.g. 'matmul type=Q4_K'");
  // A bad case is a command-line error (exit 2), reported before any backend starts.
  const CLI::Validator op_desc_text(
      [](std::string& text) {
        try {
          check_op_size(OpDesc::parse(text));
          return std::string();
        } catch (const Error& e) {
          return std::string(e.what());
        }
      },
      "OP", "op descriptor");
  cmd->add_option("--case", args->one_case,
                  "run only this case, as a check line prints it (implies --check), e.g. "
                  "'matmul type=Q4_K rows=67 cols=256 n=1'")
      ->check(op_desc_text)
      ->excludes(filter);
  cmd->add_option("-t,--threads", args->threads, "threads for the backends under check")
      ->check(CLI::Range(1, 1024));
  cmd->add_flag("-v,--verbose", args->verbose, "print passing and skipped cases too");
  cmd->callback([args] { args->check || !args->one_case.empty() ? run_checks(*args) : list_kernels(); });
}

}  // namespace llamascope
