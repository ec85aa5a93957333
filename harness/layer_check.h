// Per-layer and per-op activation goldens: the same tokens through the scalar reference and a kernel set,
// every op's output (or each layer's hidden state) compared, so a wrong kernel is named by layer and op
// instead of showing up only in the final logits. Used by `golden layers` (docs/numerics.md).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "base/tensor_type.h"
#include "engine/forward.h"

namespace llamascope {

class Model;

struct LayerCheckOptions {
  std::string kernels = "simd";
  int threads = 1;
  TensorType kv_type = TensorType::F32;
  bool every_op = false;  // false: the hidden state after each layer (and embed, output) only
};

// One compared output, in forward order.
struct LayerComparison {
  int layer = 0;  // -1 outside the layers
  std::string op;
  int64_t values = 0;
  double nmse = 0;  // sum (test - ref)^2 / sum ref^2
  double max_abs_diff = 0;
  double tolerance = 0;
  bool pass() const { return nmse <= tolerance; }
};

// What the forward's tap saw: one op's outputs (layer -1 outside the layers), in forward order.
struct CapturedOutput {
  std::string op;
  int layer = 0;
  std::vector<float> values;
};

// An OutputTap that keeps every op's output (every_op) or only the residual stream's states (embed, each
// layer's ffn_add, output), from the first forward pass only (a profile's prefill step).
class OutputRecorder final : public OutputTap {
 public:
  explicit OutputRecorder(bool every_op) : every_op_(every_op) {}
  void on_output(const char* op, int layer, int64_t rows, std::span<const float> values) override;
  std::vector<CapturedOutput> outputs;

 private:
  bool every_op_;
  bool done_ = false;
};

// The tokens a check runs: --tokens ("1 2 3", checked against the vocabulary), else -p TEXT, else a short
// English text every bundled vocabulary covers, tokenized with BOS when the vocabulary adds one.
std::vector<int32_t> check_tokens(const Model& model, const std::string& token_list,
                                  const std::string& prompt);

// The scalar reference's outputs for `tokens` in one prefill batch (fault injection off).
std::vector<CapturedOutput> reference_outputs(const Model& model, const std::vector<int32_t>& tokens,
                                              const LayerCheckOptions& options);
// The kernel set's outputs for the same tokens (fault injection as LLAMASCOPE_INJECT_FAULT says).
std::vector<CapturedOutput> run_outputs(const Model& model, const std::vector<int32_t>& tokens,
                                        const LayerCheckOptions& options);
// test against ref, output by output; Error when the two runs did not report the same ops.
std::vector<LayerComparison> compare_outputs(const std::vector<CapturedOutput>& ref,
                                             const std::vector<CapturedOutput>& test, double tolerance);

// The NMSE limit of a kernel set against the scalar path for a model whose matmul weights are
// `weight_types` (Model::weight_type_summary()), from golden/tolerances.json's "layers" table.
double layer_tolerance(const std::string& golden_dir, const std::string& weight_types);

// Runs `tokens` as one prefill batch through scalar (faults off) and through options.kernels (faults as
// LLAMASCOPE_INJECT_FAULT says), and compares what each op wrote.
std::vector<LayerComparison> check_layers(const Model& model, const std::vector<int32_t>& tokens,
                                          const LayerCheckOptions& options, double tolerance);

// A `llamascope.layercheck/1` record of one comparison.
nlohmann::json layer_check_record(const LayerComparison& c, const std::string& run_id,
                                  const std::string& kernels);

}  // namespace llamascope
