// The oneDNN backend's weight mappings: each quantized type's codes, group scales and offsets reproduce the
// file's values, and its matmuls match the float64 product of the dequantized weights with the activations
// oneDNN multiplies (BF16-rounded activations for BF16 and quantized weights, BF16-rounded scaled codes
// for quantized weights). tests/cli/onednn_fallback.sh covers the shapes that fall back to scalar.
#ifdef LLAMASCOPE_HAVE_ONEDNN

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernels/onednn/onednn_backend.h"
#include "kernels/onednn/onednn_quant.h"
#include "kernels/quant.h"

namespace llamascope {
namespace {

struct FileWeight {
  std::vector<uint8_t> bytes;
  Weight weight;
  std::vector<float> values;  // dequantize_row of every row
};

// A rows x cols weight of `type` made by the project's quantizer from Gaussian values.
FileWeight make_weight(TensorType type, int64_t rows, int64_t cols, std::mt19937& rng) {
  FileWeight f;
  const size_t rb = row_bytes(type, cols);
  f.bytes.resize(rb * static_cast<size_t>(rows));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> row(static_cast<size_t>(cols));
  f.values.resize(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (float& v : row) v = normal(rng) + 0.3f;  // off-centre: the minimum of the *_1 and K types matters
    quantize_row(type, row.data(), f.bytes.data() + r * rb, cols);
    dequantize_row(type, f.bytes.data() + r * rb, f.values.data() + r * cols, cols);
  }
  f.weight = Weight{std::string("test.") + type_name(type), type, f.bytes.data(), rows, cols, rb};
  return f;
}

std::pair<int, int> code_range(OnednnCode code) {
  switch (code) {
    case OnednnCode::s8:
      return {-128, 127};
    case OnednnCode::u8:
      return {0, 255};
    case OnednnCode::s4:
      return {-8, 7};
    case OnednnCode::u4:
      return {0, 15};
  }
  return {0, 0};
}

TEST(OnednnQuant, CodesScalesAndOffsetsReproduceEveryQuantizedType) {
  std::mt19937 rng(17);
  int mapped = 0;
  for (TensorType type : kModelWeightTypes) {
    const auto mapping = onednn_quant_mapping(type);
    if (!mapping) continue;
    ++mapped;
    SCOPED_TRACE(type_name(type));
    const int64_t rows = 7, cols = 512;
    const FileWeight f = make_weight(type, rows, cols, rng);
    const OnednnQuantUnpacked u = onednn_unpack(f.weight, *mapping);
    ASSERT_EQ(u.groups, cols / mapping->group);
    ASSERT_EQ(u.offsets.size(), mapping->has_offset ? u.scales.size() : 0u);
    const auto [lo, hi] = code_range(mapping->code);
    int mismatches = 0;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) {
        const int code = u.codes[r * cols + c];
        EXPECT_GE(code, lo);
        EXPECT_LE(code, hi);
        const int64_t g = r * u.groups + c / mapping->group;
        const double s = u.scales[g], o = mapping->has_offset ? u.offsets[g] : 0.0;
        const double mine = s * code + o, file = f.values[r * cols + c];
        // Exact up to the float32 rounding of the file's own formula (one or two roundings).
        if (std::fabs(mine - file) > 2.5e-7 * (std::fabs(s * code) + std::fabs(o)) + 1e-30) ++mismatches;
      }
    EXPECT_EQ(mismatches, 0);
  }
  EXPECT_EQ(mapped, 10);  // every quantized type a model may hold
}

double bf16_round(float v) {
  return bf16_to_fp32(fp32_to_bf16(v));
}

TEST(OnednnMatmul, EveryTypeMatchesTheFloat64ProductOfWhatItMultiplies) {
  auto backend = onednn_backend_entry().create(BackendOptions{2});
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (TensorType type : kModelWeightTypes) {
    SCOPED_TRACE(type_name(type));
    ASSERT_TRUE(backend->supports(OpKind::matmul, type));
    const int64_t rows = 96, cols = 512;
    const FileWeight f = make_weight(type, rows, cols, rng);
    const WeightHandle h = backend->prepare(f.weight, OpKind::matmul);
    EXPECT_GT(h->bytes, 0u);
    const bool bf16_activations = type != TensorType::F32 && type != TensorType::F16;
    // What oneDNN multiplies: for quantized types each weight as bf16(scale * code) (its decompression
    // rounds the scaled code to the activations' type), plus offset * x in float32 (the second matmul).
    std::vector<double> multiplied(f.values.begin(), f.values.end()), offsets(f.values.size(), 0.0);
    if (const auto mapping = onednn_quant_mapping(type)) {
      const OnednnQuantUnpacked u = onednn_unpack(f.weight, *mapping);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) {
          const int64_t g = r * u.groups + c / mapping->group, i = r * cols + c;
          multiplied[i] = bf16_round(u.scales[g] * static_cast<float>(u.codes[i]));
          if (mapping->has_offset) offsets[i] = u.offsets[g];
        }
    }
    for (int64_t n : {1, 5, 33}) {
      std::vector<float> x(static_cast<size_t>(n * (cols + 3))), out(static_cast<size_t>(n * (rows + 1)));
      for (float& v : x) v = normal(rng);
      backend->matmul(*h, Mat{x.data(), n, cols, cols + 3}, Mat{out.data(), n, rows, rows + 1});
      double err = 0, ref = 0, err_file = 0;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t r = 0; r < rows; ++r) {
          double want = 0, file = 0;
          for (int64_t c = 0; c < cols; ++c) {
            const double xv = bf16_activations ? bf16_round(x[i * (cols + 3) + c]) : x[i * (cols + 3) + c];
            want += (multiplied[r * cols + c] + offsets[r * cols + c]) * xv;
            file += static_cast<double>(f.values[r * cols + c]) * xv;
          }
          const double got = out[i * (rows + 1) + r];
          err += (got - want) * (got - want), ref += want * want;
          err_file += (got - file) * (got - file);
        }
      // Against the product of exactly what oneDNN multiplies only float32 accumulation remains (~1e-13
      // in NMSE): a wrong code, nibble order, scale or offset shows up orders of magnitude above this.
      EXPECT_LT(err / ref, 1e-10) << "n=" << n;
      // Against the file's own weights: the BF16 rounding of the scaled codes, 2^-9 relative at most
      // (docs/kernels.md, "oneDNN": measured 2-3e-6 NMSE here, 1.1-1.5e-5 for the types with a minimum,
      // whose codes carry the weights' off-centre part too).
      EXPECT_LT(err_file / ref, 5e-5) << "n=" << n;
    }
  }
}

}  // namespace
}  // namespace llamascope

#endif  // LLAMASCOPE_HAVE_ONEDNN
