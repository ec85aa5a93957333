// Small pieces shared by the CLI commands: kernel/thread flags, reading a model with its tokenizer,
// writing result files atomically, reading integers from JSON input safely.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/tensor_type.h"

namespace llamascope {

struct KernelFlags {
  std::string kernels = "scalar";
  int threads = 1;
  std::string kv_type = "f32";  // --kv-type: the KV cache's element type
};
// The fastest host kernel set compiled in ("simd", else "scalar").
std::string default_kernel_set();
// Adds -k/--kernels (default_kernels "" = default_kernel_set()) and -t/--threads to a command.
// Adds --kv-type too.
void add_kernel_flags(CLI::App& cmd, KernelFlags& flags, const std::string& default_kernels);
// Adds the required -m/--model (a GGUF file or llama2.c checkpoint) and, given `tokenizer`, -z/--tokenizer
// (the llama2.c tokenizer.bin a checkpoint needs) to a command.
void add_model_flags(CLI::App& cmd, std::string& model, std::string* tokenizer = nullptr);
// Adds --kv-type f32|f16 (the KV cache's element type) to a command.
void add_kv_type_flag(CLI::App& cmd, std::string& kv_type);
// The tensor type of a --kv-type value ("f32" or "f16", already checked by the flag).
TensorType kv_type_from_flag(const std::string& kv_type);

// `v` as an integer in lo..hi, else Error "WHAT must be an integer in LO..HI". Checked before converting:
// nlohmann's get<> of a string throws its own exception type, and of a float out of range is undefined
// behaviour (both reached by the fuzz targets of the JSON readers).
int64_t json_integer(const nlohmann::json& v, int64_t lo, int64_t hi, const std::string& what);

// Writes `content` to `path` through PATH.tmp + rename, so a reader never sees a half-written file.
void write_file_atomically(const std::string& path, const std::string& content);

// "512 B", "13.91 MiB", "1.21 GiB": bytes in the largest binary unit (up to TiB) that keeps the number at
// least 1, with `decimals` digits after the point.
std::string format_bytes(double bytes, int decimals = 2);

// Token ids from "1 403 407" (--tokens); Error for anything that is not a non-negative int32, or none.
std::vector<int32_t> parse_token_list(const std::string& text);

// std::thread::hardware_concurrency(), at least 1.
unsigned hardware_threads();

}  // namespace llamascope
