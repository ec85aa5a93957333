#include "harness/golden.h"

#include <climits>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "engine/forward.h"
#include "engine/model.h"
#include "engine/sampler.h"
#include "harness/common.h"
#include "kernels/kernel_set.h"

namespace llamascope {
namespace {

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(path + ": cannot open");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": not valid JSON: " + e.what());
  }
}

}  // namespace

LogitsComparison compare_logits(std::span<const float> reference, std::span<const float> actual,
                                int64_t n_vocab, double tie_margin) {
  if (reference.size() != actual.size() || n_vocab <= 0 || reference.size() % n_vocab != 0)
    throw Error("compare_logits: shapes differ");
  LogitsComparison r;
  double diff_sq = 0, ref_sq = 0;
  for (size_t i = 0; i < reference.size(); ++i) {
    if (!std::isfinite(actual[i])) r.finite = false;
    const double d = double(actual[i]) - reference[i];
    diff_sq += d * d;
    ref_sq += double(reference[i]) * reference[i];
    r.max_abs_diff = std::max(r.max_abs_diff, std::abs(d));
  }
  r.nmse = ref_sq > 0 ? diff_sq / ref_sq : diff_sq;
  const int64_t rows = static_cast<int64_t>(reference.size()) / n_vocab;
  int64_t agree = 0, agree_strict = 0;
  for (int64_t row = 0; row < rows; ++row) {
    const std::span<const float> ref_row = reference.subspan(row * n_vocab, n_vocab);
    const int32_t ours = argmax(actual.subspan(row * n_vocab, n_vocab)), theirs = argmax(ref_row);
    agree_strict += ours == theirs;
    agree += ours == theirs || double(ref_row[theirs]) - ref_row[ours] <= tie_margin;
  }
  r.top1 = rows ? double(agree) / rows : 1.0;
  r.top1_strict = rows ? double(agree_strict) / rows : 1.0;
  if (!r.finite) r.nmse = INFINITY;
  return r;
}

namespace {

// An integer field, checked before conversion: nlohmann's get<int> of a float outside the range is
// undefined behaviour (found by fuzzing the manifest).
std::vector<int32_t> token_list_field(const nlohmann::json& v, const std::string& what) {
  if (!v.is_array()) throw Error(what + " must be an array of token ids");
  std::vector<int32_t> ids;
  for (const auto& t : v) ids.push_back(static_cast<int32_t>(json_integer(t, 0, INT32_MAX, what)));
  return ids;
}

}  // namespace

std::vector<GoldenCase> load_golden_cases(const std::string& golden_dir) {
  const std::string manifest_path = golden_dir + "/llamacpp/manifest.json";
  const nlohmann::json m = read_json(manifest_path);
  std::vector<GoldenCase> cases;
  try {
    for (const auto& c : m.at("cases")) {
      GoldenCase g;
      g.model_path = golden_dir + "/" + c.at("model").get<std::string>();
      g.logits_path = golden_dir + "/llamacpp/" + c.at("logits").get<std::string>();
      const std::string where = manifest_path + ": case " + g.model_path + ": ";
      g.tokens = token_list_field(m.at(c.at("tokens").get<std::string>()), where + "tokens");
      g.n_positions = json_integer(c.at("n_positions"), 1, INT32_MAX, where + "n_positions");
      g.n_vocab = json_integer(c.at("n_vocab"), 1, INT32_MAX, where + "n_vocab");
      if (c.contains("greedy_next_16"))
        g.greedy_next = token_list_field(c.at("greedy_next_16"), where + "greedy_next_16");
      if (g.n_positions != static_cast<int64_t>(g.tokens.size()))
        throw Error(manifest_path + ": case " + g.model_path + ": n_positions differs from the token count");
      cases.push_back(std::move(g));
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(manifest_path + ": " + e.what());
  }
  return cases;
}

GoldenTolerance golden_tolerance(const std::string& golden_dir, const std::string& type_summary,
                                 TensorType kv_type) {
  const std::string path = golden_dir + "/tolerances.json";
  try {
    const nlohmann::json all = read_json(path);
    // With an F16 cache (llama.cpp's own default) a type may have a tighter entry of its own.
    const bool f16_kv = kv_type == TensorType::F16 && all.contains("kv_f16") &&
                        all.at("kv_f16").at("types").contains(type_summary);
    const nlohmann::json t = f16_kv ? all.at("kv_f16").at("types") : all.at("types");
    // A mix ("Q4_K:25,Q6_K:5") has one entry for all mixes: its counts change with the model's depth.
    const bool mix = type_summary.find(',') != std::string::npos;
    const std::string key = t.contains(type_summary)     ? type_summary
                            : mix && t.contains("mixed") ? "mixed"
                                                         : "default_quantized";
    const double margin = read_json(path).at("top1_tie_margin").get<double>();
    return GoldenTolerance{t.at(key).at("nmse").get<double>(), t.at(key).at("top1").get<double>(), margin};
  } catch (const nlohmann::json::exception& e) {  // a missing or mistyped field (found by fuzzing)
    throw Error(path + ": " + e.what());
  }
}

double golden_prefill_decode_limit(const std::string& golden_dir) {
  const std::string path = golden_dir + "/tolerances.json";
  try {
    return read_json(path).at("prefill_vs_decode_nmse").get<double>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": " + e.what());
  }
}

bool GoldenResult::passed() const {
  return prefill.finite && decode.finite && prefill.nmse <= tolerance.nmse && decode.nmse <= tolerance.nmse &&
         prefill.top1 >= tolerance.top1 && decode.top1 >= tolerance.top1 &&
         prefill_vs_decode.nmse <= prefill_decode_limit && greedy.passed();
}

namespace {

// Continues greedily from the decoded case (forward holds its n positions; `logits` is the last position's
// row) for as many tokens as llama.cpp's continuation has, comparing step by step.
GreedyCheck check_greedy(Forward& forward, std::vector<float> logits, const std::vector<int32_t>& reference,
                         int64_t n, double margin) {
  GreedyCheck g;
  g.reference = reference;
  g.margin = margin;
  const int64_t vocab = static_cast<int64_t>(logits.size());
  for (size_t step = 0; step < reference.size(); ++step) {
    const int32_t ours = argmax(logits);
    g.ours.push_back(ours);
    if (ours != reference[step]) {
      const int32_t theirs = reference[step];
      g.diverged_at = static_cast<int>(step);
      g.gap = theirs >= 0 && theirs < vocab ? double(logits[ours]) - logits[theirs] : INFINITY;
      break;
    }
    ++g.matched;
    if (step + 1 < reference.size()) forward.eval({&ours, 1}, n + static_cast<int64_t>(step), logits.data());
  }
  return g;
}

}  // namespace

GoldenResult run_golden_case(const std::string& golden_dir, const GoldenCase& c,
                             const std::string& kernel_spec, int threads, TensorType kv_type) {
  const std::unique_ptr<Model> model = load_model(c.model_path);
  if (model->config.vocab_size != c.n_vocab)
    throw Error(c.model_path + ": vocabulary " + std::to_string(model->config.vocab_size) +
                " but the reference has " + std::to_string(c.n_vocab));
  const std::vector<float> reference = read_reference_logits(c);
  const size_t n = c.tokens.size();
  const int64_t vocab = c.n_vocab;
  KernelSet kernels(kernel_spec, BackendOptions{threads});
  std::vector<float> prefill(n * vocab), decode(n * vocab);
  {
    Forward forward(*model, kernels, static_cast<int64_t>(n), Forward::kDefaultMaxBatch, kv_type);
    forward.eval(c.tokens, 0, prefill.data(), /*all_logits=*/true);
  }
  GoldenResult r;
  r.tolerance = golden_tolerance(golden_dir, model->weight_type_summary(), kv_type);
  {
    Forward forward(*model, kernels, static_cast<int64_t>(n + c.greedy_next.size()),
                    Forward::kDefaultMaxBatch, kv_type);
    for (size_t i = 0; i < n; ++i)
      forward.eval({&c.tokens[i], 1}, static_cast<int64_t>(i), decode.data() + i * vocab);
    r.decode = compare_logits(reference, decode, vocab, r.tolerance.tie_margin);
    const std::vector<float> last(decode.end() - vocab, decode.end());
    r.greedy = check_greedy(forward, last, c.greedy_next, static_cast<int64_t>(n), r.decode.max_abs_diff);
  }
  r.model_path = c.model_path;
  r.weight_types = model->weight_type_summary();
  r.kernels = kernels.spec();
  r.threads = threads;
  r.prefill = compare_logits(reference, prefill, vocab, r.tolerance.tie_margin);
  r.prefill_vs_decode = compare_logits(prefill, decode, vocab);
  r.prefill_decode_limit = golden_prefill_decode_limit(golden_dir);
  return r;
}

std::vector<float> read_reference_logits(const GoldenCase& c) {
  std::ifstream in(c.logits_path, std::ios::binary | std::ios::ate);
  if (!in) throw Error(c.logits_path + ": cannot open");
  const std::streamsize bytes = in.tellg();
  const int64_t expected = c.n_positions * c.n_vocab * static_cast<int64_t>(sizeof(float));
  if (bytes != expected)
    throw Error(c.logits_path + ": " + std::to_string(bytes) + " bytes, expected " +
                std::to_string(expected));
  std::vector<float> logits(static_cast<size_t>(c.n_positions * c.n_vocab));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(logits.data()), bytes);
  return logits;
}

std::string default_golden_dir() {
  for (const std::string& candidate : {std::string("golden"), std::string(LLAMASCOPE_SOURCE_DIR) + "/golden"})
    if (std::filesystem::exists(candidate + "/llamacpp/manifest.json")) return candidate;
  throw Error("golden data not found (looked in ./golden and " LLAMASCOPE_SOURCE_DIR "/golden); give --dir");
}

}  // namespace llamascope
