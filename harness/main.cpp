// llamascope: the command-line entry point. Subcommands live in harness/*.cpp (see commands.h).
#include <cstdio>
#include <exception>

#include "base/error.h"
#include "harness/commands.h"

int main(int argc, char** argv) {
  CLI::App app{
      "llamascope: a reference LLaMA engine with swappable kernels, and a harness that measures them"};
  app.require_subcommand(1);
  app.set_version_flag("--version", LLAMASCOPE_VERSION);
  llamascope::register_info_command(app);
  llamascope::register_run_command(app);
  llamascope::register_tokenize_command(app);
  llamascope::register_logits_command(app);
  llamascope::register_kernels_command(app);
  llamascope::register_golden_command(app);
  llamascope::register_bench_command(app);
  llamascope::register_profile_command(app);
  llamascope::register_quantize_command(app);
  llamascope::register_synth_command(app);
  llamascope::register_machine_command(app);
  llamascope::register_report_command(app);
  llamascope::register_history_command(app);
  llamascope::register_gate_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "llamascope: error: %s (see llamascope --help)\n", e.what());
    return 2;
  } catch (const llamascope::Error& e) {
    std::fprintf(stderr, "llamascope: error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "llamascope: error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "llamascope: error: internal: %s\n", e.what());
    return 3;
  }
  return llamascope::command_exit_status();
}
