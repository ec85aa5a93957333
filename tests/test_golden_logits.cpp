// Golden numerics: every case of golden/llamacpp/manifest.json through every kernel set compiled in, in one
// prefill batch and one token at a time, against llama.cpp's logits with the limits of golden/tolerances.json.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/forward.h"
#include "engine/model.h"
#include "harness/golden.h"
#include "kernels/kernel_set.h"

namespace llamascope {
namespace {

const std::string kGolden = LLAMASCOPE_GOLDEN_DIR;

struct GoldenParam {
  GoldenCase golden;
  std::string kernels;
  int threads;
};

std::vector<GoldenParam> golden_params() {
  std::vector<std::pair<std::string, int>> sets = {{"scalar", 1}};
  if (find_backend("simd")) sets.insert(sets.end(), {{"simd", 1}, {"simd", 2}, {"simd,matmul=scalar", 2}});
  if (find_backend("onednn") && find_backend("onednn")->unavailable_reason().empty()) sets.push_back({"onednn", 2});
  std::vector<GoldenParam> params;
  for (const GoldenCase& c : load_golden_cases(kGolden))
    for (const auto& [kernels, threads] : sets) params.push_back({c, kernels, threads});
  return params;
}

std::string param_name(const testing::TestParamInfo<GoldenParam>& info) {
  std::string name = info.param.golden.model_path.substr(info.param.golden.model_path.find_last_of('/') + 1) + "_" +
                     info.param.kernels + "_t" + std::to_string(info.param.threads);
  for (char& ch : name)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return name;
}

class GoldenLogits : public testing::TestWithParam<GoldenParam> {};

TEST_P(GoldenLogits, PrefillAndDecodeMatchLlamaCpp) {
  const GoldenParam& p = GetParam();
  const std::unique_ptr<Model> model = load_model(p.golden.model_path);
  ASSERT_EQ(model->config.vocab_size, p.golden.n_vocab);
  const std::vector<float> reference = read_reference_logits(p.golden);
  const GoldenTolerance tol = golden_tolerance(kGolden, model->weight_type_summary());
  const size_t n = p.golden.tokens.size();
  const int64_t vocab = p.golden.n_vocab;

  KernelSet kernels(p.kernels, BackendOptions{p.threads});
  std::vector<float> prefill(n * vocab), decode(n * vocab);
  {
    Forward forward(*model, kernels, static_cast<int64_t>(n));
    forward.eval(p.golden.tokens, 0, prefill.data(), /*all_logits=*/true);
  }
  {
    Forward forward(*model, kernels, static_cast<int64_t>(n));
    for (size_t i = 0; i < n; ++i) forward.eval({&p.golden.tokens[i], 1}, static_cast<int64_t>(i), decode.data() + i * vocab);
  }

  const LogitsComparison pre = compare_logits(reference, prefill, vocab);
  const LogitsComparison dec = compare_logits(reference, decode, vocab);
  const LogitsComparison self = compare_logits(prefill, decode, vocab);
  RecordProperty("nmse_prefill", std::to_string(pre.nmse));
  RecordProperty("top1_prefill", std::to_string(pre.top1));
  std::printf("  %s [%s]: nmse prefill %.3g decode %.3g, top1 %.4f / %.4f, prefill-vs-decode %.3g\n",
              model->weight_type_summary().c_str(), kernels.spec().c_str(), pre.nmse, dec.nmse, pre.top1, dec.top1,
              self.nmse);
  EXPECT_TRUE(pre.finite && dec.finite);
  EXPECT_LE(pre.nmse, tol.nmse);
  EXPECT_LE(dec.nmse, tol.nmse);
  EXPECT_GE(pre.top1, tol.top1);
  EXPECT_GE(dec.top1, tol.top1);
  EXPECT_LE(self.nmse, golden_prefill_decode_limit(kGolden));
}

INSTANTIATE_TEST_SUITE_P(Manifest, GoldenLogits, testing::ValuesIn(golden_params()), param_name);

TEST(GoldenCompare, DetectsADifference) {
  // The comparison must not be blind: a perturbed copy fails, an identical copy passes.
  std::vector<float> ref = {1, 2, 3, 4, 5, 6}, same = ref, off = ref;
  off[2] = 30;
  EXPECT_EQ(compare_logits(ref, same, 3).nmse, 0);
  EXPECT_EQ(compare_logits(ref, same, 3).top1, 1.0);
  EXPECT_GT(compare_logits(ref, off, 3).nmse, 1.0);
  EXPECT_EQ(compare_logits(ref, off, 3).top1, 0.5);
}

}  // namespace
}  // namespace llamascope
