#include "harness/layer_check.h"

#include <cmath>
#include <fstream>
#include <span>

#include "base/error.h"
#include "engine/model.h"
#include "harness/common.h"
#include "kernels/kernel_set.h"

namespace llamascope {
namespace {

std::vector<CapturedOutput> capture(const Model& model, const std::vector<int32_t>& tokens,
                                    const std::string& kernels, const LayerCheckOptions& options,
                                    bool faults) {
  KernelSet set(kernels, BackendOptions{options.threads});
  const int64_t n = static_cast<int64_t>(tokens.size());
  Forward forward(model, set, n, n, options.kv_type);
  forward.set_fault_injection(faults);
  OutputRecorder recorder(options.every_op);
  forward.set_output_tap(&recorder);
  std::vector<float> logits(static_cast<size_t>(model.config.vocab_size));
  forward.eval(tokens, 0, logits.data());  // the last position's logits, as a profile's prefill computes them
  return std::move(recorder.outputs);
}

}  // namespace

void OutputRecorder::on_output(const char* op, int layer, int64_t /*rows*/, std::span<const float> values) {
  if (done_) return;
  const std::string name = op;
  done_ = name == "output";  // the last op of a pass: later passes (decode steps) are not compared
  if (!every_op_ && name != "embed" && name != "ffn_add" && name != "output") return;
  outputs.push_back({name, layer, std::vector<float>(values.begin(), values.end())});
}

std::vector<int32_t> check_tokens(const Model& model, const std::string& token_list,
                                  const std::string& prompt) {
  if (!token_list.empty() && !prompt.empty()) throw Error("give --tokens or -p, not both");
  if (!token_list.empty()) {
    std::vector<int32_t> ids = parse_token_list(token_list);
    for (int32_t t : ids)
      if (t >= model.config.vocab_size)
        throw Error("--tokens: " + std::to_string(t) + " is outside the vocabulary");
    return ids;
  }
  if (!model.tokenizer) throw Error(model.path + ": has no tokenizer; give --tokens");
  const std::string text = prompt.empty()
                               ? "Once upon a time, there was a little robot named Max. Max liked to "
                                 "help his friends in the big garden."
                               : prompt;
  return model.tokenizer->encode(text, model.tokenizer->vocab().add_bos);
}

std::vector<CapturedOutput> reference_outputs(const Model& model, const std::vector<int32_t>& tokens,
                                              const LayerCheckOptions& options) {
  if (tokens.empty()) throw Error("golden layers: no tokens to run");
  return capture(model, tokens, "scalar", options, false);
}

std::vector<CapturedOutput> run_outputs(const Model& model, const std::vector<int32_t>& tokens,
                                        const LayerCheckOptions& options) {
  return capture(model, tokens, options.kernels, options, true);
}

double layer_tolerance(const std::string& golden_dir, const std::string& weight_types) {
  const std::string path = golden_dir + "/tolerances.json";
  std::ifstream in(path);
  if (!in) throw Error(path + ": cannot open");
  try {
    const nlohmann::json t = nlohmann::json::parse(in).at("layers").at("types");
    const bool mix = weight_types.find(',') != std::string::npos;
    const std::string key = t.contains(weight_types)     ? weight_types
                            : mix && t.contains("mixed") ? "mixed"
                                                         : "default_quantized";
    return t.at(key).get<double>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": " + e.what());
  }
}

std::vector<LayerComparison> compare_outputs(const std::vector<CapturedOutput>& ref,
                                             const std::vector<CapturedOutput>& test, double tolerance) {
  if (ref.size() != test.size()) throw Error("layer check: the two runs reported different ops");
  std::vector<LayerComparison> out;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (ref[i].op != test[i].op || ref[i].layer != test[i].layer ||
        ref[i].values.size() != test[i].values.size())
      throw Error("layer check: the two runs' ops differ at " + ref[i].op);
    LayerComparison c{ref[i].layer, ref[i].op, static_cast<int64_t>(ref[i].values.size())};
    double diff_sq = 0, ref_sq = 0;
    for (size_t j = 0; j < ref[i].values.size(); ++j) {
      const double d = double(test[i].values[j]) - ref[i].values[j];
      diff_sq += d * d;
      ref_sq += double(ref[i].values[j]) * ref[i].values[j];
      c.max_abs_diff = std::max(c.max_abs_diff, std::abs(d));
    }
    c.nmse = ref_sq > 0 ? diff_sq / ref_sq : diff_sq;
    if (!std::isfinite(c.nmse)) c.nmse = INFINITY;
    c.tolerance = tolerance;
    out.push_back(c);
  }
  return out;
}

std::vector<LayerComparison> check_layers(const Model& model, const std::vector<int32_t>& tokens,
                                          const LayerCheckOptions& options, double tolerance) {
  const std::vector<CapturedOutput> ref = reference_outputs(model, tokens, options);
  return compare_outputs(ref, run_outputs(model, tokens, options), tolerance);
}

nlohmann::json layer_check_record(const LayerComparison& c, const std::string& run_id,
                                  const std::string& kernels) {
  return {{"schema", "llamascope.layercheck/1"},
          {"run_id", run_id},
          {"kernels", kernels},
          {"reference", "scalar"},
          {"layer", c.layer},
          {"op", c.op},
          {"values", c.values},
          {"nmse", std::isfinite(c.nmse) ? nlohmann::json(c.nmse) : nlohmann::json(nullptr)},
          {"max_abs_diff", c.max_abs_diff},
          {"tolerance", c.tolerance},
          {"pass", c.pass()}};
}

}  // namespace llamascope
