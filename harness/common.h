// Small pieces shared by the CLI commands: kernel/thread flags, reading a model with its tokenizer,
// writing result files atomically, spreading row work over threads.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace llamascope {

struct KernelFlags {
  std::string kernels = "scalar";
  int threads = 1;
};
// The fastest host kernel set compiled in ("simd", else "scalar").
std::string default_kernel_set();
// Adds -k/--kernels (default_kernels "" = default_kernel_set()) and -t/--threads to a command.
void add_kernel_flags(CLI::App& cmd, KernelFlags& flags, const std::string& default_kernels);

// Writes `content` to `path` through PATH.tmp + rename, so a reader never sees a half-written file.
void write_file_atomically(const std::string& path, const std::string& content);

// std::thread::hardware_concurrency(), at least 1.
unsigned hardware_threads();
// Calls body(worker, i) for every i in [0, n) on `workers` threads (the caller's included). Indices are
// handed out one at a time, so uneven work balances; `worker` (< workers) indexes per-thread scratch.
// body must not throw.
void parallel_for(int64_t n, unsigned workers, const std::function<void(unsigned worker, int64_t i)>& body);

}  // namespace llamascope
