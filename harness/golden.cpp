#include "harness/golden.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/sampler.h"

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

LogitsComparison compare_logits(std::span<const float> reference, std::span<const float> actual, int64_t n_vocab) {
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
  int64_t agree = 0;
  for (int64_t row = 0; row < rows; ++row)
    agree += argmax(reference.subspan(row * n_vocab, n_vocab)) == argmax(actual.subspan(row * n_vocab, n_vocab));
  r.top1 = rows ? double(agree) / rows : 1.0;
  if (!r.finite) r.nmse = INFINITY;
  return r;
}

std::vector<GoldenCase> load_golden_cases(const std::string& golden_dir) {
  const std::string manifest_path = golden_dir + "/llamacpp/manifest.json";
  const nlohmann::json m = read_json(manifest_path);
  std::vector<GoldenCase> cases;
  try {
    for (const auto& c : m.at("cases")) {
      GoldenCase g;
      g.model_path = golden_dir + "/" + c.at("model").get<std::string>();
      g.logits_path = golden_dir + "/llamacpp/" + c.at("logits").get<std::string>();
      g.tokens = m.at(c.at("tokens").get<std::string>()).get<std::vector<int32_t>>();
      g.n_positions = c.at("n_positions").get<int64_t>();
      g.n_vocab = c.at("n_vocab").get<int64_t>();
      if (c.contains("greedy_next_16")) g.greedy_next = c.at("greedy_next_16").get<std::vector<int32_t>>();
      if (g.n_positions != static_cast<int64_t>(g.tokens.size()))
        throw Error(manifest_path + ": case " + g.model_path + ": n_positions differs from the token count");
      cases.push_back(std::move(g));
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(manifest_path + ": " + e.what());
  }
  return cases;
}

GoldenTolerance golden_tolerance(const std::string& golden_dir, const std::string& type_summary) {
  const nlohmann::json t = read_json(golden_dir + "/tolerances.json").at("types");
  const std::string key = t.contains(type_summary) ? type_summary : "default_quantized";
  return GoldenTolerance{t.at(key).at("nmse").get<double>(), t.at(key).at("top1").get<double>()};
}

double golden_prefill_decode_limit(const std::string& golden_dir) {
  return read_json(golden_dir + "/tolerances.json").at("prefill_vs_decode_nmse").get<double>();
}

std::vector<float> read_reference_logits(const GoldenCase& c) {
  std::ifstream in(c.logits_path, std::ios::binary | std::ios::ate);
  if (!in) throw Error(c.logits_path + ": cannot open");
  const std::streamsize bytes = in.tellg();
  const int64_t expected = c.n_positions * c.n_vocab * static_cast<int64_t>(sizeof(float));
  if (bytes != expected)
    throw Error(c.logits_path + ": " + std::to_string(bytes) + " bytes, expected " + std::to_string(expected));
  std::vector<float> logits(static_cast<size_t>(c.n_positions * c.n_vocab));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(logits.data()), bytes);
  return logits;
}

}  // namespace llamascope
