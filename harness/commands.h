// The `llamascope` subcommands. Each registers its flags on the CLI11 app and runs from a callback; errors
// are thrown as llamascope::Error and printed by main() as one line with a non-zero exit.
#pragma once

#include <CLI/CLI.hpp>

namespace llamascope {

void register_info_command(CLI::App& app);
void register_run_command(CLI::App& app);
void register_tokenize_command(CLI::App& app);
void register_logits_command(CLI::App& app);
void register_kernels_command(CLI::App& app);
void register_golden_command(CLI::App& app);
// Subcommands of `golden` (golden_cmd.cpp registers them on its command).
void register_golden_kld_command(CLI::App& golden);
void register_golden_layers_command(CLI::App& golden);
void register_golden_record_commands(CLI::App& golden);  // record, check
void register_bench_command(CLI::App& app);
void register_profile_command(CLI::App& app);
void register_quantize_command(CLI::App& app);
void register_synth_command(CLI::App& app);
void register_machine_command(CLI::App& app);
void register_report_command(CLI::App& app);
void register_history_command(CLI::App& app);
void register_gate_command(CLI::App& app);

// Exit status a command asks main() to return (0 unless a command sets it, e.g. a failed check).
int& command_exit_status();

}  // namespace llamascope
