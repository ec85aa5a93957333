#include "harness/common.h"

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "base/error.h"
#include "kernels/backend.h"

namespace llamascope {

int64_t json_integer(const nlohmann::json& v, int64_t lo, int64_t hi, const std::string& what) {
  if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)) ||
      v.get<int64_t>() < lo || v.get<int64_t>() > hi)
    throw Error(what + " must be an integer in " + std::to_string(lo) + ".." + std::to_string(hi));
  return v.get<int64_t>();
}

std::string default_kernel_set() {
  return find_backend("simd") ? "simd" : "scalar";
}

void add_kernel_flags(CLI::App& cmd, KernelFlags& flags, const std::string& default_kernels) {
  flags.kernels = default_kernels.empty() ? default_kernel_set() : default_kernels;
  cmd.add_option("-k,--kernels", flags.kernels,
                 "kernel set: BACKEND[,OP=BACKEND...], e.g. simd,matmul=scalar")
      ->capture_default_str();
  cmd.add_option("-t,--threads", flags.threads, "threads")->check(CLI::Range(1, 1024))->capture_default_str();
  add_kv_type_flag(cmd, flags.kv_type);
}

std::string format_bytes(double bytes, int decimals) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) bytes /= 1024, ++u;
  return u == 0 ? fmt::format("{:.0f} B", bytes) : fmt::format("{:.{}f} {}", bytes, decimals, units[u]);
}

void add_model_flags(CLI::App& cmd, std::string& model, std::string* tokenizer) {
  cmd.add_option("-m,--model", model, "GGUF file or llama2.c checkpoint")->required();
  if (tokenizer) cmd.add_option("-z,--tokenizer", *tokenizer, "llama2.c tokenizer.bin (checkpoints only)");
}

void add_kv_type_flag(CLI::App& cmd, std::string& kv_type) {
  cmd.add_option("--kv-type", kv_type, "KV cache element type: f32 or f16")
      ->check(CLI::IsMember({"f32", "f16"}))
      ->capture_default_str();
}

TensorType kv_type_from_flag(const std::string& kv_type) {
  return kv_type == "f16" ? TensorType::F16 : TensorType::F32;
}

int& command_exit_status() {
  static int status = 0;
  return status;
}

void write_file_atomically(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(path + ": cannot open for writing");
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    out.flush();
    if (!out) {
      out.close();
      std::remove(tmp.c_str());
      throw Error(path + ": write failed (disk full?)");
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::remove(tmp.c_str());
    throw Error(path + ": cannot rename into place: " + ec.message());
  }
}

unsigned hardware_threads() {
  return std::max(1u, std::thread::hardware_concurrency());
}

std::vector<int32_t> parse_token_list(const std::string& text) {
  std::vector<int32_t> ids;
  std::string item;
  std::istringstream stream(text);
  while (stream >> item) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || v < 0 || v > INT32_MAX)
      throw Error("--tokens: '" + item + "' is not a token id");
    ids.push_back(static_cast<int32_t>(v));
  }
  if (ids.empty()) throw Error("--tokens: no token ids given");
  return ids;
}

}  // namespace llamascope
