// `llamascope quantize IN.gguf OUT.gguf TYPE [--pure]`: converts a float GGUF model to another tensor type
// (or a K-quant mix), streaming one chunk of rows at a time, and prints the quantization error per tensor.
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/error.h"
#include "base/tensor_type.h"
#include "engine/gguf.h"
#include "harness/commands.h"
#include "harness/common.h"
#include "harness/quant_target.h"
#include "kernels/quant.h"
#include "kernels/thread_pool.h"

namespace llamascope {
namespace {

struct QuantizeArgs {
  std::string input, output, type;
  bool pure = false;
};

bool is_float_type(TensorType t) {
  return t == TensorType::F32 || t == TensorType::F16 || t == TensorType::BF16;
}

void to_float(TensorType type, const void* src, float* dst, int64_t n) {
  if (type == TensorType::F32)
    std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
  else
    dequantize_row(type, src, dst, n);
}

// The type each tensor is written in: the target's choice, or a fallback where rows do not fit its blocks.
std::vector<TensorType> output_types(const QuantizeArgs& args, const QuantTarget& target,
                                     const GgufFile& in) {
  const std::string arch = in.get_string("general.architecture").value_or("llama");
  const int n_layers = static_cast<int>(in.get_int(arch + ".block_count").value_or(0));

  const bool has_output = in.find_tensor("output.weight") != nullptr;
  std::vector<TensorType> out_types;
  for (const GgufTensorInfo& t : in.tensors()) {
    TensorType type = choose_tensor_type(target, t.name, t.shape.size(), n_layers, has_output);
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
  return out_types;
}

// Writes tensor `t` converted to `type`, in chunks; returns the squared error of the round trip and the
// squared sum of the source (the NMSE's numerator and denominator).
std::pair<double, double> quantize_tensor(const GgufTensorInfo& t, TensorType type, ThreadPool& pool,
                                          GgufWriter& writer) {
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
    // Per-row sums, added in row order below: the printed NMSE does not depend on the scheduling.
    std::vector<double> row_err(static_cast<size_t>(nr), 0), row_energy(static_cast<size_t>(nr), 0);
    pool.run(nr, [&](int64_t r) {
      thread_local std::vector<float> scratch;
      scratch.resize(2 * static_cast<size_t>(row));
      float* src = scratch.data();
      float* back = src + row;
      const auto* in_row = static_cast<const uint8_t*>(t.data) + static_cast<size_t>(r0 + r) * in_row_bytes;
      to_float(t.type, in_row, src, row);
      uint8_t* dst = out.data() + static_cast<size_t>(r) * out_row_bytes;
      if (type == TensorType::F32)
        std::memcpy(dst, src, out_row_bytes);
      else
        quantize_row(type, src, dst, row);
      to_float(type, dst, back, row);
      for (int64_t k = 0; k < row; ++k) {
        const double d = static_cast<double>(back[k]) - src[k];
        row_err[r] += d * d;
        row_energy[r] += static_cast<double>(src[k]) * src[k];
      }
    });
    for (int64_t r = 0; r < nr; ++r) err += row_err[r], energy += row_energy[r];
    writer.write_tensor_data(out.data(), static_cast<uint64_t>(nr) * out_row_bytes);
  }
  return {err, energy};
}

void run_quantize(const QuantizeArgs& args) {
  const QuantTarget target = parse_quant_target(args.type);
  auto in = GgufFile::open(args.input);
  for (const GgufTensorInfo& t : in->tensors())
    if (!is_float_type(t.type))
      throw Error(fmt::format("{}: tensor {} is {}; quantize needs an F32, F16 or BF16 source", args.input,
                              t.name, type_name(t.type)));
  const std::vector<TensorType> out_types = output_types(args, target, *in);

  GgufWriter writer(args.output, in->alignment());
  for (const GgufKeyValue& kv : in->metadata())
    if (kv.key != "general.alignment") writer.set(kv.key, kv.value);
  writer.set_u32("general.file_type", target.file_type);
  for (size_t i = 0; i < in->tensors().size(); ++i)
    writer.declare_tensor(in->tensors()[i].name, out_types[i], in->tensors()[i].shape);
  writer.write_header();

  const unsigned n_threads = hardware_threads();
  ThreadPool pool(static_cast<int>(n_threads));
  double pooled_err = 0, pooled_energy = 0;
  fmt::print("{:<28} {:>6} {:>6} {:>12}\n", "tensor", "from", "to", "nmse");
  for (size_t ti = 0; ti < in->tensors().size(); ++ti) {
    const GgufTensorInfo& t = in->tensors()[ti];
    const TensorType type = out_types[ti];
    const auto [err, energy] = quantize_tensor(t, type, pool, writer);
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
  cmd->add_option("type", args->type, quant_target_names())->required();
  cmd->add_flag("--pure", args->pure, "one type for every matrix, no fallbacks");
  cmd->callback([args] { run_quantize(*args); });
}

}  // namespace llamascope
