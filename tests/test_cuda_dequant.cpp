// The CUDA backend's dequantization code (kernels/cuda/dequant.cuh, run on the host) against the scalar
// reference, every weight type: the block layouts are the part of the device kernels most likely to be
// wrong, and this checks them on machines without a GPU. Built only with the CUDA backend.
#ifdef LLAMASCOPE_HAVE_CUDA

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cuda/cuda_ops.h"
#include "kernels/quant.h"

namespace llamascope {
namespace {

TEST(CudaDequant, EveryTypeMatchesTheScalarReference) {
  const TensorType types[] = {TensorType::F32,  TensorType::F16,  TensorType::BF16, TensorType::Q8_0,
                              TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1,
                              TensorType::Q2_K, TensorType::Q3_K, TensorType::Q4_K, TensorType::Q5_K,
                              TensorType::Q6_K};
  constexpr int64_t kCols = 1024;  // 4 super-blocks, 32 legacy blocks
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> src(kCols);
  for (float& v : src) v = dist(rng);
  for (TensorType type : types) {
    ASSERT_TRUE(cuda::weight_type_supported(type)) << type_name(type);
    std::vector<uint8_t> row(row_bytes(type, kCols));
    quantize_row(type, src.data(), row.data(), kCols);
    std::vector<float> expected(kCols), got(kCols, NAN);
    dequantize_row(type, row.data(), expected.data(), kCols);
    cuda::dequantize_row_host(type, row.data(), kCols, got.data());
    int mismatches = 0;
    for (int64_t i = 0; i < kCols; ++i)
      if (!(std::fabs(got[i] - expected[i]) <= 1e-6f * std::fabs(expected[i]) + 1e-30f) && mismatches++ < 5)
        ADD_FAILURE() << type_name(type) << " element " << i << ": " << got[i] << " vs " << expected[i];
    EXPECT_EQ(mismatches, 0) << type_name(type);
  }
  EXPECT_FALSE(cuda::weight_type_supported(TensorType::Q8_K));
}

}  // namespace
}  // namespace llamascope

#endif  // LLAMASCOPE_HAVE_CUDA
