// What of the CUDA backend can be checked without a GPU: its dequantization code (kernels/cuda/dequant.cuh,
// run on the host) against the scalar reference for every weight type (the block layouts are the part of
// the device kernels most likely to be wrong), and the run-time loading of cuBLAS. Built only with the CUDA
// backend.
#ifdef LLAMASCOPE_HAVE_CUDA

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cuda/cublas_loader.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/quant.h"

namespace llamascope {
namespace {

TEST(CudaDequant, EveryTypeMatchesTheScalarReference) {
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  // 1024: 4 super-blocks, 32 legacy blocks. 172 (float types only, as stories260K's hidden width): a
  // partial last chunk, and F16/BF16 rows that are not 16-byte multiples.
  for (const int64_t kCols : {int64_t{1024}, int64_t{172}})
    for (TensorType type : kModelWeightTypes) {
      if (kCols % type_info(type).block_elems != 0) continue;
      std::vector<float> src(kCols);
      for (float& v : src) v = dist(rng);
      ASSERT_TRUE(cuda::weight_type_supported(type)) << type_name(type);
      std::vector<uint8_t> row(row_bytes(type, kCols));
      quantize_row(type, src.data(), row.data(), kCols);
      std::vector<float> expected(kCols), got(kCols, NAN);
      dequantize_row(type, row.data(), expected.data(), kCols);
      cuda::dequantize_row_host(type, row.data(), kCols, got.data());
      int mismatches = 0;
      for (int64_t i = 0; i < kCols; ++i)
        if (!(std::fabs(got[i] - expected[i]) <= 1e-6f * std::fabs(expected[i]) + 1e-30f) && mismatches++ < 5)
          ADD_FAILURE() << type_name(type) << " cols " << kCols << " element " << i << ": " << got[i]
                        << " vs " << expected[i];
      EXPECT_EQ(mismatches, 0) << type_name(type);
    }
  EXPECT_FALSE(cuda::weight_type_supported(TensorType::Q8_K));
}

// cuBLAS is loaded at run time: where the library is found, every entry point the backend calls resolves;
// where it is not, asking for it is one Error naming the library, never a crash.
TEST(CudaCublasLoader, ResolvesEveryEntryPointOrSaysWhy) {
  const std::string why = cuda::cublas_unavailable_reason();
  if (!why.empty()) {
    EXPECT_EQ(why.rfind("cuBLAS not found (", 0), 0u) << why;
    EXPECT_THROW(cuda::cublas(), Error);
    return;
  }
  const cuda::CublasApi& api = cuda::cublas();
  EXPECT_TRUE(api.create && api.destroy && api.set_stream && api.set_math_mode && api.set_workspace &&
              api.sgemm && api.gemm_ex && api.status_string);
  EXPECT_STRNE(api.status_string(CUBLAS_STATUS_SUCCESS), api.status_string(CUBLAS_STATUS_NOT_INITIALIZED));
  // Without a usable device, the GEMM context fails with one Error line (cuBLAS's status in it).
  if (!cuda::unavailable_reason().empty()) {
    try {
      cuda::Gemm gemm(nullptr);
      ADD_FAILURE() << "a cuBLAS handle was created without a device";
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("cuBLAS error"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace llamascope

#endif  // LLAMASCOPE_HAVE_CUDA
