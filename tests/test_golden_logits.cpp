// Golden numerics: every case of golden/llamacpp/manifest.json through every kernel set compiled in, in one
// prefill batch and one token at a time, against llama.cpp's logits with the limits of
// golden/tolerances.json.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "harness/golden.h"
#include "kernels/backend.h"

namespace llamascope {
namespace {

const std::string kGolden = LLAMASCOPE_GOLDEN_DIR;

struct GoldenParam {
  GoldenCase golden;
  std::string kernels;
  int threads;
  TensorType kv_type = TensorType::F32;
};

std::vector<GoldenParam> golden_params() {
  // Every backend the build registered and this machine can run, so a new backend folder is tested here
  // without an edit; then the SIMD backend on one thread and composed with the scalar matmuls.
  std::vector<std::pair<std::string, int>> sets;
  for (const BackendEntry& e : backend_registry())
    if (e.unavailable_reason().empty()) sets.push_back({e.name, 2});
  if (find_backend("simd")) sets.insert(sets.end(), {{"simd", 1}, {"simd,matmul=scalar", 2}});
  std::vector<GoldenParam> params;
  for (const GoldenCase& c : load_golden_cases(kGolden)) {
    for (const auto& [kernels, threads] : sets) params.push_back({c, kernels, threads});
    // An F16 KV cache, as llama.cpp keeps it: the float models must come closer (tolerances.json, kv_f16).
    for (const char* kernels : {"scalar", "simd"})
      if (find_backend(kernels)) params.push_back({c, kernels, 2, TensorType::F16});
  }
  return params;
}

std::string param_name(const testing::TestParamInfo<GoldenParam>& info) {
  std::string name = info.param.golden.model_path.substr(info.param.golden.model_path.find_last_of('/') + 1) +
                     "_" + info.param.kernels + "_t" + std::to_string(info.param.threads) +
                     (info.param.kv_type == TensorType::F16 ? "_kvf16" : "");
  for (char& ch : name)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return name;
}

class GoldenLogits : public testing::TestWithParam<GoldenParam> {};

TEST_P(GoldenLogits, PrefillAndDecodeMatchLlamaCpp) {
  const GoldenParam& p = GetParam();
  const GoldenResult r = run_golden_case(kGolden, p.golden, p.kernels, p.threads, p.kv_type);
  std::printf("  %s [%s -t %d]: nmse prefill %.3g decode %.3g, top1 %.4f / %.4f, prefill-vs-decode %.3g\n",
              r.weight_types.c_str(), r.kernels.c_str(), r.threads, r.prefill.nmse, r.decode.nmse,
              r.prefill.top1, r.decode.top1, r.prefill_vs_decode.nmse);
  EXPECT_TRUE(r.prefill.finite && r.decode.finite);
  EXPECT_LE(r.prefill.nmse, r.tolerance.nmse);
  EXPECT_LE(r.decode.nmse, r.tolerance.nmse);
  EXPECT_GE(r.prefill.top1, r.tolerance.top1);
  EXPECT_GE(r.decode.top1, r.tolerance.top1);
  EXPECT_LE(r.prefill_vs_decode.nmse, r.prefill_decode_limit);
  EXPECT_TRUE(r.greedy.passed()) << "greedy continuation parts from llama.cpp's at step " << r.greedy.diverged_at
                                 << " by a logit gap of " << r.greedy.gap << " (margin " << r.greedy.margin << ")";
  EXPECT_TRUE(r.passed());
}

TEST(GoldenGreedy, CatchesAContinuationThatPartsAtAClearDifference) {
  // stories260K follows llama.cpp's continuation exactly; replace one of llama.cpp's tokens by <unk>, which
  // the model never prefers, and the check must fail at that step.
  for (GoldenCase c : load_golden_cases(kGolden)) {
    if (c.model_path.find("stories260K") == std::string::npos) continue;
    ASSERT_GE(c.greedy_next.size(), 4u);
    c.greedy_next[3] = 0;
    const GoldenResult r = run_golden_case(kGolden, c, "scalar", 1);
    EXPECT_EQ(r.greedy.matched, 3);
    EXPECT_EQ(r.greedy.diverged_at, 3);
    EXPECT_GT(r.greedy.gap, r.greedy.margin);
    EXPECT_FALSE(r.passed());
    return;
  }
  FAIL() << "no stories260K case in the manifest";
}

INSTANTIATE_TEST_SUITE_P(Manifest, GoldenLogits, testing::ValuesIn(golden_params()), param_name);

TEST(GoldenCompare, DetectsADifference) {
  // The comparison must not be blind: a perturbed copy fails, an identical copy passes.
  std::vector<float> ref = {1, 2, 3, 4, 5, 6}, same = ref, off = ref;
  off[0] = 30;  // moves row 0's argmax from index 2 to 0
  EXPECT_EQ(compare_logits(ref, same, 3).nmse, 0);
  EXPECT_EQ(compare_logits(ref, same, 3).top1, 1.0);
  EXPECT_GT(compare_logits(ref, off, 3).nmse, 1.0);
  EXPECT_EQ(compare_logits(ref, off, 3).top1, 0.5);
}

}  // namespace
}  // namespace llamascope
