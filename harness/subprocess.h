// Running another program and collecting what it printed: the performance gate runs builds of llamascope
// (and Valgrind) as child processes, each with its own environment additions.
#pragma once

#include <string>
#include <vector>

namespace llamascope {

struct ProcessResult {
  int status = -1;  // exit status; 128 + N when killed by signal N
  std::string out;  // everything written to stdout
  std::string err;  // everything written to stderr
};

// Runs argv[0] (searched in PATH when it has no '/') with the current environment plus `env` ("NAME=VALUE"
// entries, overriding), and waits for it. Throws Error when it cannot be started.
ProcessResult run_process(const std::vector<std::string>& argv, const std::vector<std::string>& env = {});

}  // namespace llamascope
