// `llamascope report IN... -o DIR`: a thin wrapper that runs the report generator (reports/report.py, Python
// with matplotlib) on bench, profile, golden and machine records, so users need not know where it lives.
// The scripts are found through $LLAMASCOPE_REPORTS_DIR, else the source tree this binary was built from;
// the interpreter through $LLAMASCOPE_PYTHON, else /usr/bin/python3 (Debian's, which has matplotlib).
#include <spawn.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "harness/commands.h"

extern char** environ;

namespace llamascope {
namespace {

struct ReportArgs {
  std::vector<std::string> inputs;
  std::string out;
  std::string baseline = "simd";
  std::string history;
  std::string machine;
};

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

int run_report(const ReportArgs& args) {
  const std::string dir = env_or("LLAMASCOPE_REPORTS_DIR", std::string(LLAMASCOPE_SOURCE_DIR) + "/reports");
  const std::string script = dir + "/report.py";
  if (!std::filesystem::exists(script))
    throw Error("report scripts not found at " + script + " (set LLAMASCOPE_REPORTS_DIR)");
  const std::string python = env_or("LLAMASCOPE_PYTHON", "/usr/bin/python3");
  std::vector<std::string> argv = {python, script, "-o", args.out, "--baseline", args.baseline};
  if (!args.history.empty()) argv.insert(argv.end(), {"--history", args.history});
  if (!args.machine.empty()) argv.insert(argv.end(), {"--machine", args.machine});
  argv.insert(argv.end(), args.inputs.begin(), args.inputs.end());
  std::vector<char*> cargv;
  for (std::string& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  // The report reads a history store through this same binary (`history export`).
  setenv("LLAMASCOPE_BINARY", std::filesystem::canonical("/proc/self/exe").c_str(), 1);
  pid_t pid = 0;
  if (posix_spawn(&pid, python.c_str(), nullptr, nullptr, cargv.data(), environ) != 0)
    throw Error("cannot run " + python + " (set LLAMASCOPE_PYTHON to a Python 3 with matplotlib)");
  int status = 0;
  if (waitpid(pid, &status, 0) < 0) throw Error("lost the report process");
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  throw Error("the report generator was killed by signal " + std::to_string(WTERMSIG(status)));
}

}  // namespace

void register_report_command(CLI::App& app) {
  auto args = std::make_shared<ReportArgs>();
  auto* cmd = app.add_subcommand(
      "report", "HTML + Markdown report with plots from bench, profile, golden and machine records");
  cmd->add_option("inputs", args->inputs, "JSONL record files (bench, profile, golden) and machine JSON")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("-o,--out", args->out, "output folder (replaced as a whole when the report is done)")
      ->required();
  cmd->add_option("--baseline", args->baseline, "kernel set the speed-ups are against")
      ->capture_default_str();
  cmd->add_option("--history", args->history, "history database (SQLite) for the trend section");
  cmd->add_option("--machine", args->machine, "`llamascope machine --json` output for the roofline");
  cmd->callback([args] { command_exit_status() = run_report(*args); });
}

}  // namespace llamascope
