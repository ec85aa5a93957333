// The gate's verdict rules (docs/gate.md, "How a verdict is decided") on constructed samples, and the
// series it builds from bench and profile records.
#include <gtest/gtest.h>

#include <vector>

#include "base/error.h"
#include "harness/gate_compare.h"
#include "tests/support/paired_samples.h"

using namespace llamascope::gate;

namespace {

Series timed(std::vector<double> samples) {
  return Series{"bench", "", "ns", std::move(samples), false};
}

// n samples around `center` with a deterministic +-spread pattern (no ties).
std::vector<double> around(double center, double spread, int n) {
  std::vector<double> v;
  for (int i = 0; i < n; ++i)
    v.push_back(center * (1 + spread * ((i * 7 % n) / double(n - 1) - 0.5)) + i * 1e-9);
  return v;
}

}  // namespace

TEST(GateCompare, VerdictsOnConstructedSamples) {
  const GateOptions o;  // 2 %, alpha 0.05, 3 samples
  EXPECT_EQ(compare_one("k", timed(around(100, 0.01, 10)), timed(around(110, 0.01, 10)), o).verdict,
            "regression");
  EXPECT_EQ(compare_one("k", timed(around(100, 0.01, 10)), timed(around(90, 0.01, 10)), o).verdict,
            "improvement");
  EXPECT_EQ(compare_one("k", timed(around(100, 0.01, 10)), timed(around(100.2, 0.01, 10)), o).verdict,
            "unchanged");
  // A 10 % change under 60 % noise with 6 samples cannot be decided; the estimate asks for more.
  const Comparison open = compare_one("k", timed(around(100, 0.6, 6)), timed(around(110, 0.6, 6)), o);
  EXPECT_EQ(open.verdict, "inconclusive");
  EXPECT_GT(open.more_samples, 0);
  // Significant but inside the threshold is not a regression: +1 % with 2 % threshold.
  EXPECT_NE(compare_one("k", timed(around(100, 0.002, 12)), timed(around(101, 0.002, 12)), o).verdict,
            "regression");
  // Too few samples.
  const Comparison few = compare_one("k", timed({100, 101}), timed({150, 151}), o);
  EXPECT_EQ(few.verdict, "inconclusive");
  EXPECT_EQ(few.more_samples, 1);
}

TEST(GateCompare, PairedSamplesCancelDriftThatHidesAChange) {
  // Both sides drift by +-30 % together from pair to pair; the candidate is 5 % slower in every pair.
  const auto [base, cand] = llamascope::test::drifting_pairs(10, 7, 0.3, 100, 105, 0.001);
  GateOptions o;
  EXPECT_NE(compare_one("k", timed(base), timed(cand), o).verdict, "regression");  // unpaired: lost
  o.paired = true;
  const Comparison c = compare_one("k", timed(base), timed(cand), o);
  EXPECT_EQ(c.verdict, "regression");
  EXPECT_EQ(c.test.name, "wilcoxon-signed-rank");
  EXPECT_NEAR(c.ratio, 1.05, 0.003);
  EXPECT_GT(c.interval.low, 1.04);
  EXPECT_LT(c.test.p, 0.01);  // all ten pairs slower (tied magnitudes: the normal approximation)
  // The same drift with no change between the sides: unchanged, not a regression.
  std::vector<double> same = base;
  for (size_t i = 0; i < same.size(); ++i) same[i] *= 1 + 0.002 * ((i % 2) ? 1 : -1);
  EXPECT_EQ(compare_one("k", timed(base), timed(same), o).verdict, "unchanged");
}

TEST(GateCompare, DeterministicCountsDecideByRatio) {
  GateOptions o;
  o.threshold = 0.005;
  auto counted = [](double v) { return Series{"b", "matmul", "cycles (est.)", {v}, true}; };
  EXPECT_EQ(compare_one("k", counted(1000000), counted(1000000), o).verdict, "unchanged");
  EXPECT_EQ(compare_one("k", counted(1000000), counted(1006000), o).verdict, "regression");
  EXPECT_EQ(compare_one("k", counted(1000000), counted(1004000), o).verdict, "unchanged");
  EXPECT_EQ(compare_one("k", counted(1000000), counted(990000), o).verdict, "improvement");
}

TEST(GateCompare, CalibrationMarksTooNoisyAndRaisesTheMinimum) {
  GateOptions o;
  o.calibration["k"] = {12, false};
  const Comparison c = compare_one("k", timed(around(100, 0.01, 8)), timed(around(120, 0.01, 8)), o);
  EXPECT_EQ(c.verdict, "inconclusive");
  EXPECT_EQ(c.more_samples, 4);
  o.calibration["k"] = {0, true};
  EXPECT_EQ(compare_one("k", timed(around(100, 0.01, 8)), timed(around(120, 0.01, 8)), o).verdict,
            "inconclusive");
}

TEST(GateCompare, SeriesFromBenchAndProfileRecords) {
  const nlohmann::json model = {{"sha256", "abc"}, {"name", "m.gguf"}};
  std::vector<nlohmann::json> records = {
      {{"schema", "llamascope.bench/1"},
       {"model", model},
       {"kernels", "simd"},
       {"threads", 2},
       {"test", "tg8"},
       {"tokens_per_second", {{"samples", {100.0, 200.0}}}}},
      {{"schema", "llamascope.profile/1"},
       {"run_id", "r"},
       {"model", model},
       {"kernels", "simd"},
       {"threads", 1},
       {"n_prompt", 4},
       {"n_gen", 2}},
  };
  for (int step = 1; step <= 2; ++step)
    for (int layer = 0; layer < 2; ++layer)
      records.push_back({{"schema", "llamascope.layer/2"},
                         {"run_id", "r"},
                         {"phase", "decode"},
                         {"step", step},
                         {"layer", layer},
                         {"op", "ffn_down"},
                         {"ns", 10 * step + layer}});
  const SeriesMap s = series_from_records(records, false);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s.at("abc|simd|2|tg8").samples, (std::vector<double>{1e7, 5e6}));  // ns per token
  EXPECT_EQ(s.at("abc|simd|1|tg2|ffn_down").samples,
            (std::vector<double>{21, 41}));  // layers summed per step
  const SeriesMap layered = series_from_records(records, true);
  EXPECT_EQ(layered.at("abc|simd|1|tg2|ffn_down L1").samples, (std::vector<double>{11, 21}));
  // A layer record before its profile line is unusable input.
  std::vector<nlohmann::json> orphan = {records.back()};
  EXPECT_THROW(series_from_records(orphan, false), llamascope::Error);
}

TEST(GateCompare, MistypedOrOverflowingFieldsAreErrors) {
  // Each record set once ended the gate with a foreign exception, undefined behaviour or NaN statistics
  // (tests/fuzz/regressions/gate_records); each must be an Error naming what is wrong.
  const nlohmann::json model = {{"sha256", "abc"}, {"name", "m.gguf"}};
  const nlohmann::json profile = {{"schema", "llamascope.profile/1"},
                                  {"run_id", "r"},
                                  {"model", model},
                                  {"kernels", "simd"},
                                  {"threads", 1},
                                  {"n_prompt", 4},
                                  {"n_gen", 2}};
  const nlohmann::json layer = {{"schema", "llamascope.layer/2"},
                                {"run_id", "r"},
                                {"phase", "prefill"},
                                {"step", 0},
                                {"layer", 0},
                                {"op", "matmul"},
                                {"ns", 5}};
  auto error_of = [](std::vector<nlohmann::json> records, bool by_layer) -> std::string {
    try {
      series_from_records(records, by_layer);
    } catch (const llamascope::Error& e) {
      return e.what();
    }
    return "";
  };
  nlohmann::json p = profile;
  p["n_prompt"] = "4";
  EXPECT_NE(error_of({p, layer}, false).find("/n_prompt must be an integer"), std::string::npos);
  p["n_prompt"] = 1e300;
  EXPECT_NE(error_of({p, layer}, false).find("/n_prompt must be an integer"), std::string::npos);
  nlohmann::json l = layer;
  l["layer"] = 1e300;
  EXPECT_NE(error_of({profile, l}, true).find("/layer must be an integer"), std::string::npos);
  l = layer;
  l["ns"] = "5";
  EXPECT_NE(error_of({profile, l}, false).find("/ns is not a number"), std::string::npos);
  l["ns"] = 1e308;  // two of them in one step overflow to inf
  EXPECT_NE(error_of({profile, l, l}, false).find("not a time"), std::string::npos);
  const nlohmann::json bench = {{"schema", "llamascope.bench/1"},
                                {"model", model},
                                {"kernels", "simd"},
                                {"threads", 1},
                                {"test", "tg4"},
                                {"tokens_per_second", {{"samples", {1e-300, 1e-300, 1e-300}}}}};
  EXPECT_NE(error_of({bench}, false).find("not a positive number of tokens/s"), std::string::npos);
}

TEST(GateCompare, NothingInCommonIsAnError) {
  SeriesMap a, b;
  a["x"] = timed({1, 2, 3});
  b["y"] = timed({1, 2, 3});
  EXPECT_THROW(compare(a, b, GateOptions{}), llamascope::Error);
}

TEST(GateCompare, ThresholdParsing) {
  EXPECT_DOUBLE_EQ(parse_threshold("2%"), 0.02);
  EXPECT_DOUBLE_EQ(parse_threshold("0.005"), 0.005);
  EXPECT_THROW(parse_threshold("2x"), llamascope::Error);
  EXPECT_THROW(parse_threshold("150%"), llamascope::Error);
  EXPECT_THROW(parse_threshold(""), llamascope::Error);
}
