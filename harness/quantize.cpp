// `llamascope quantize IN.gguf OUT.gguf TYPE [--pure]`: converts a float GGUF model to another tensor type
// (or a K-quant mix), streaming one chunk of rows at a time, and prints the quantization error per tensor.
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "engine/error.h"
#include "engine/gguf.h"
#include "harness/commands.h"
#include "kernels/quant.h"
#include "kernels/tensor_type.h"

namespace llamascope {
namespace {

struct QuantizeArgs {
  std::string input, output, type;
  bool pure = false;
};

struct Target {
  std::string name;
  TensorType base;
  bool mix_m = false;  // Q4_K_M / Q5_K_M rules
  uint32_t file_type;
};

Target parse_target(const std::string& name) {
  std::string up;
  for (char c : name) up += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (up == "Q4_K_M") return {up, TensorType::Q4_K, true, 15};
  if (up == "Q5_K_M") return {up, TensorType::Q5_K, true, 17};
  struct Plain {
    const char* n;
    TensorType t;
    uint32_t ft;
  };
  static const Plain plain[] = {
      {"F32", TensorType::F32, 0},    {"F16", TensorType::F16, 1},    {"BF16", TensorType::BF16, 32},
      {"Q8_0", TensorType::Q8_0, 7},  {"Q4_0", TensorType::Q4_0, 2},  {"Q4_1", TensorType::Q4_1, 3},
      {"Q5_0", TensorType::Q5_0, 8},  {"Q5_1", TensorType::Q5_1, 9},  {"Q2_K", TensorType::Q2_K, 10},
      {"Q3_K", TensorType::Q3_K, 12}, {"Q4_K", TensorType::Q4_K, 15}, {"Q5_K", TensorType::Q5_K, 17},
      {"Q6_K", TensorType::Q6_K, 18}};
  for (const Plain& p : plain)
    if (up == p.n) return {up, p.t, false, p.ft};
  std::string valid;
  for (const Plain& p : plain) valid += std::string(p.n) + " ";
  throw Error(fmt::format("unknown quantization type '{}' (valid: {}Q4_K_M Q5_K_M)", name, valid));
}

bool is_float_type(TensorType t) {
  return t == TensorType::F32 || t == TensorType::F16 || t == TensorType::BF16;
}

// Layer index from "blk.N.*", or -1.
int layer_of(const std::string& name) {
  if (name.rfind("blk.", 0) != 0) return -1;
  return std::atoi(name.c_str() + 4);
}

// The mix rules for the *_M files: attn_v and ffn_down get Q6_K in the layers where more bits pay off most
// (first and last eighth, and every third layer between), output.weight gets Q6_K.
TensorType choose_type(const Target& target, const GgufTensorInfo& t, int n_layers) {
  if (t.shape.size() < 2) return TensorType::F32;  // norms and rope factors stay exact
  if (!target.mix_m) return target.base;
  if (t.name == "output.weight") return TensorType::Q6_K;
  const bool attn_v = t.name.find("attn_v.weight") != std::string::npos;
  const bool ffn_down = t.name.find("ffn_down.weight") != std::string::npos;
  if ((attn_v || ffn_down) && n_layers > 0) {
    const int i = layer_of(t.name);
    const int n = n_layers;
    const bool more_bits = i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
    if (more_bits) return TensorType::Q6_K;
  }
  return target.base;
}

// A type of similar precision with 32-element blocks for rows a K-quant's 256-element block does not
// divide (the choice llama.cpp makes: Q5_0 for Q4_K and below, Q5_1 for Q5_K, Q8_0 for Q6_K); F16 when even
// 32 does not divide the row.
TensorType fallback_type(TensorType chosen, int64_t row) {
  TensorType wanted = TensorType::Q5_0;
  if (chosen == TensorType::Q5_K) wanted = TensorType::Q5_1;
  if (chosen == TensorType::Q6_K || chosen == TensorType::Q8_0) wanted = TensorType::Q8_0;
  if (row % type_info(wanted).block_elems == 0) return wanted;
  return TensorType::F16;
}

void to_float(TensorType type, const void* src, float* dst, int64_t n) {
  if (type == TensorType::F32)
    std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
  else
    dequantize_row(type, src, dst, n);
}

void run_quantize(const QuantizeArgs& args) {
  const Target target = parse_target(args.type);
  auto in = GgufFile::open(args.input);
  for (const GgufTensorInfo& t : in->tensors())
    if (!is_float_type(t.type))
      throw Error(fmt::format("{}: tensor {} is {}; quantize needs an F32, F16 or BF16 source", args.input,
                              t.name, type_name(t.type)));
  const std::string arch = in->get_string("general.architecture").value_or("llama");
  const int n_layers = static_cast<int>(in->get_int(arch + ".block_count").value_or(0));

  std::vector<TensorType> out_types;
  for (const GgufTensorInfo& t : in->tensors()) {
    TensorType type = choose_type(target, t, n_layers);
    const int64_t row = t.shape.empty() ? 1 : t.shape[0];
    if (row <= 0) throw Error(fmt::format("{}: tensor {} has an empty row", args.input, t.name));
    if (row % type_info(type).block_elems != 0) {
      if (args.pure)
        throw Error(fmt::format("{}: tensor {} rows of {} do not fit {} blocks of {} (--pure)", args.input,
                                t.name, row, type_name(type), type_info(type).block_elems));
      const TensorType fb = fallback_type(type, row);
      fmt::print(stderr, "{}: rows of {} do not fit {}; using {}\n", t.name, row, type_name(type),
                 type_name(fb));
      type = fb;
    }
    out_types.push_back(type);
  }

  GgufWriter writer(args.output, in->alignment());
  for (const GgufKeyValue& kv : in->metadata())
    if (kv.key != "general.alignment") writer.set(kv.key, kv.value);
  writer.set_u32("general.file_type", target.file_type);
  for (size_t i = 0; i < in->tensors().size(); ++i)
    writer.declare_tensor(in->tensors()[i].name, out_types[i], in->tensors()[i].shape);
  writer.write_header();

  const unsigned n_threads = std::max(1u, std::thread::hardware_concurrency());
  double pooled_err = 0, pooled_energy = 0;
  fmt::print("{:<28} {:>6} {:>6} {:>12}\n", "tensor", "from", "to", "nmse");
  for (size_t ti = 0; ti < in->tensors().size(); ++ti) {
    const GgufTensorInfo& t = in->tensors()[ti];
    const TensorType type = out_types[ti];
    const int64_t row = t.shape.empty() ? 1 : t.shape[0];
    const int64_t rows = t.elements() / row;
    const size_t in_row_bytes = row_bytes(t.type, row);
    const size_t out_row_bytes = row_bytes(type, row);
    // Chunks of about 16M floats bound memory for any tensor size.
    const int64_t chunk_rows = std::max<int64_t>(1, (int64_t{1} << 24) / row);
    std::vector<uint8_t> out(static_cast<size_t>(std::min(chunk_rows, rows)) * out_row_bytes);
    double err = 0, energy = 0;
    for (int64_t r0 = 0; r0 < rows; r0 += chunk_rows) {
      const int64_t nr = std::min(chunk_rows, rows - r0);
      std::vector<double> t_err(n_threads, 0), t_energy(n_threads, 0);
      std::atomic<int64_t> next{0};
      auto work = [&](unsigned tid) {
        std::vector<float> src(static_cast<size_t>(row)), back(static_cast<size_t>(row));
        for (int64_t r; (r = next.fetch_add(1)) < nr;) {
          const auto* in_row =
              static_cast<const uint8_t*>(t.data) + static_cast<size_t>(r0 + r) * in_row_bytes;
          to_float(t.type, in_row, src.data(), row);
          uint8_t* dst = out.data() + static_cast<size_t>(r) * out_row_bytes;
          if (type == TensorType::F32)
            std::memcpy(dst, src.data(), out_row_bytes);
          else
            quantize_row(type, src.data(), dst, row);
          to_float(type, dst, back.data(), row);
          for (int64_t k = 0; k < row; ++k) {
            const double d = static_cast<double>(back[k]) - src[k];
            t_err[tid] += d * d;
            t_energy[tid] += static_cast<double>(src[k]) * src[k];
          }
        }
      };
      std::vector<std::thread> pool;
      for (unsigned k = 1; k < n_threads; ++k) pool.emplace_back(work, k);
      work(0);
      for (auto& th : pool) th.join();
      for (unsigned k = 0; k < n_threads; ++k) err += t_err[k], energy += t_energy[k];
      writer.write_tensor_data(out.data(), static_cast<uint64_t>(nr) * out_row_bytes);
    }
    const double nmse = energy > 0 ? err / energy : 0;
    fmt::print("{:<28} {:>6} {:>6} {:>12.4e}\n", t.name, type_name(t.type), type_name(type), nmse);
    if (t.shape.size() >= 2) pooled_err += err, pooled_energy += energy;
  }
  writer.finish();
  fmt::print("pooled weight nmse (non-norm tensors): {:.4e}\n",
             pooled_energy > 0 ? pooled_err / pooled_energy : 0.0);
  fmt::print("wrote {} ({}, {} threads)\n", args.output, target.name, n_threads);
}

}  // namespace

void register_quantize_command(CLI::App& app) {
  auto args = std::make_shared<QuantizeArgs>();
  auto* cmd = app.add_subcommand("quantize", "Convert a float GGUF model to another tensor type");
  cmd->add_option("input", args->input, "F32/F16/BF16 GGUF file")->required();
  cmd->add_option("output", args->output, "output GGUF file")->required();
  cmd->add_option("type", args->type,
                  "F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K Q4_K Q5_K Q6_K Q4_K_M Q5_K_M")
      ->required();
  cmd->add_flag("--pure", args->pure, "one type for every matrix, no fallbacks");
  cmd->callback([args] { run_quantize(*args); });
}

}  // namespace llamascope
