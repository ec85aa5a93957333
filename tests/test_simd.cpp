// Tests of the SIMD backend: every op and weight type, odd shapes, decode and prefill batches, GQA and deep
// cache positions, on every ISA path this CPU can run, against float64 references written here (weights
// through dequantize_row); plus the numerics contract (same bits for any batch size and thread count)
// and the thread pool.
#include <gtest/gtest.h>

#include <atomic>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "base/error.h"
#include "kernels/quant.h"
#include "kernels/quant_blocks.h"
#include "kernels/simd/interleaved.h"
#include "kernels/simd/simd_backend.h"
#include "kernels/simd/simd_kernels.h"
#include "kernels/thread_pool.h"

namespace llamascope {
namespace {

// ---- helpers ----

// Every ISA is instantiated; one the CPU lacks reports as skipped (with the reason) instead of vanishing.
const SimdIsa kAllIsas[] = {SimdIsa::portable, SimdIsa::avx2, SimdIsa::avx512};

const simd::SimdKernels& kernels_of(SimdIsa isa) {
  if (isa == SimdIsa::avx512) return simd::avx512_kernels();
  if (isa == SimdIsa::avx2) return simd::avx2_kernels();
  return simd::portable_kernels();
}

// A host matrix with padding between rows, so the kernels' stride handling is exercised.
struct HostMat {
  std::vector<float> storage;
  Mat mat;
  HostMat(int64_t rows, int64_t cols, int64_t pad = 3) {
    storage.assign(static_cast<size_t>(rows * (cols + pad)), NAN);
    mat = Mat{storage.data(), rows, cols, cols + pad};
  }
  float& at(int64_t r, int64_t c) { return mat.data[r * mat.stride + c]; }
  float at(int64_t r, int64_t c) const { return mat.data[r * mat.stride + c]; }
};

HostMat random_mat(int64_t rows, int64_t cols, std::mt19937& rng, float sigma = 1.0f) {
  HostMat m(rows, cols);
  std::normal_distribution<float> normal(0.0f, sigma);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) m.at(r, c) = normal(rng);
  return m;
}

// Weights of any type: random bytes (every bit pattern of the quants, including -128 int8s) with sane half
// scales written over the scale fields.
struct TestWeight {
  std::vector<uint8_t> bytes;
  Weight weight;
  std::vector<double> dequantized;  // rows x cols
};

void set_half(std::vector<uint8_t>& bytes, size_t offset, float value) {
  const uint16_t h = fp32_to_fp16(value);
  std::memcpy(bytes.data() + offset, &h, sizeof h);
}

TestWeight random_weight(TensorType type, int64_t rows, int64_t cols, std::mt19937& rng) {
  TestWeight t;
  const size_t rb = row_bytes(type, cols);
  t.bytes.resize(rb * static_cast<size_t>(rows));
  std::uniform_int_distribution<int> byte(0, 255);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> scale(0.002f, 0.02f);
  const TensorTypeInfo& info = type_info(type);
  if (type == TensorType::F32 || type == TensorType::F16 || type == TensorType::BF16) {
    for (int64_t i = 0; i < rows * cols; ++i) {
      const float v = normal(rng);
      if (type == TensorType::F32) std::memcpy(t.bytes.data() + 4 * i, &v, 4);
      const uint16_t h = type == TensorType::F16 ? fp32_to_fp16(v) : fp32_to_bf16(v);
      if (type != TensorType::F32) std::memcpy(t.bytes.data() + 2 * i, &h, 2);
    }
  } else {
    for (uint8_t& b : t.bytes) b = static_cast<uint8_t>(byte(rng));
    std::vector<size_t> half_fields;  // the fp16 scales: d, and m or dmin where the block has one
    const bool quantized = visit_block_type(type, [&](auto* tag) {
      using Block = std::remove_pointer_t<decltype(tag)>;
      if constexpr (std::is_same_v<decltype(Block::d), uint16_t>) half_fields.push_back(offsetof(Block, d));
      if constexpr (requires { Block::m; }) half_fields.push_back(offsetof(Block, m));
      if constexpr (requires { Block::dmin; }) half_fields.push_back(offsetof(Block, dmin));
    });
    if (!quantized) ADD_FAILURE() << "no generator for " << type_name(type);
    for (size_t block = 0; block < t.bytes.size() / info.block_bytes; ++block)
      for (size_t field : half_fields) set_half(t.bytes, block * info.block_bytes + field, scale(rng));
  }
  t.weight = Weight{std::string("test.") + type_name(type), type, t.bytes.data(), rows, cols, rb};
  std::vector<float> row(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    dequantize_row(type, t.weight.row(r), row.data(), cols);
    t.dequantized.insert(t.dequantized.end(), row.begin(), row.end());
  }
  return t;
}

// Normalized mean squared error of `got` against `want`: sum (got - want)^2 / sum want^2.
double nmse(const std::vector<double>& got, const std::vector<double>& want) {
  double err = 0, ref = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    err += (got[i] - want[i]) * (got[i] - want[i]);
    ref += want[i] * want[i];
  }
  return ref > 0 ? err / ref : err;
}

std::vector<double> values(const HostMat& m) {
  std::vector<double> v;
  for (int64_t r = 0; r < m.mat.rows; ++r)
    for (int64_t c = 0; c < m.mat.cols; ++c) v.push_back(m.at(r, c));
  return v;
}

// x as the kernels see it after int8 activation quantization (simd_kernels.h): per block of `block`
// elements, scale max|x| / 127, values rounded to nearest even in float.
HostMat quantized_activations(const HostMat& x, int64_t block) {
  HostMat q(x.mat.rows, x.mat.cols);
  for (int64_t r = 0; r < x.mat.rows; ++r)
    for (int64_t b = 0; b < x.mat.cols; b += block) {
      float amax = 0;
      for (int64_t c = b; c < b + block; ++c) amax = std::max(amax, std::fabs(x.at(r, c)));
      const float d = amax / 127.0f, inv = amax > 0 ? 127.0f / amax : 0.0f;
      for (int64_t c = b; c < b + block; ++c) q.at(r, c) = std::nearbyint(x.at(r, c) * inv) * d;
    }
  return q;
}

// x rounded to BF16 (nearest even), as the AVX512-BF16 kernel rounds the activations of BF16 weights.
HostMat bf16_activations(const HostMat& x) {
  HostMat rounded(x.mat.rows, x.mat.cols);
  for (int64_t r = 0; r < x.mat.rows; ++r)
    for (int64_t c = 0; c < x.mat.cols; ++c) rounded.at(r, c) = bf16_to_fp32(fp32_to_bf16(x.at(r, c)));
  return rounded;
}

std::vector<double> reference_matmul(const TestWeight& w, const HostMat& x) {
  std::vector<double> out;
  for (int64_t i = 0; i < x.mat.rows; ++i)
    for (int64_t r = 0; r < w.weight.rows; ++r) {
      double sum = 0;
      for (int64_t c = 0; c < w.weight.cols; ++c) sum += w.dequantized[r * w.weight.cols + c] * x.at(i, c);
      out.push_back(sum);
    }
  return out;
}

class SimdIsaTest : public ::testing::TestWithParam<SimdIsa> {
 protected:
  void SetUp() override {
    if (!simd_isa_supported(GetParam()))
      GTEST_SKIP() << "this CPU cannot run the " << simd_isa_name(GetParam()) << " kernels";
  }
  std::unique_ptr<Backend> make(int threads = 1) {
    return create_simd_backend(BackendOptions{threads}, GetParam());
  }
};

// ---- matmul ----

TEST_P(SimdIsaTest, MatmulEveryTypeMatchesFloat64Reference) {
  std::mt19937 rng(1234);
  auto backend = make(2);
  // prepare() = the repacked (interleaved) kernels where the ISA has them; without, the row-at-a-time ones.
  for (bool prepared : {false, true})
    for (TensorType type : kModelWeightTypes) {
      const int64_t block = type_info(type).block_elems;
      const std::vector<int64_t> col_counts = block == 1 ? std::vector<int64_t>{1, 7, 33, 100, 515}
                                                         : std::vector<int64_t>{block, 3 * block, 9 * block};
      const simd::TypeKernel kernel = kernels_of(GetParam()).kernel_for(type);
      const bool int8_activations = kernel.dot && kernel.activation != simd::ActivationFormat::f32;
      // Prepared BF16 weights of even width go through VDPBF16PS where the CPU has AVX512-BF16.
      const bool bf16_dot = prepared && type == TensorType::BF16 && simd_bf16_dot(GetParam());
      bool rounded_any = false;
      // Errors pooled over every shape of the type: a single output near zero would make a per-shape ratio
      // meaningless.
      std::vector<double> got_all, exact_all, used_all;
      for (int64_t cols : col_counts)
        for (int64_t rows : {1, 5, 37})
          for (int64_t n : {1, 3, 9}) {
            const TestWeight w = random_weight(type, rows, cols, rng);
            const HostMat x = random_mat(n, cols, rng);
            HostMat out(n, rows);
            const WeightHandle h = prepared ? backend->prepare(w.weight, OpKind::matmul)
                                            : std::make_shared<const PreparedWeight>(w.weight);
            backend->matmul(*h, x.mat, out.mat);
            const std::vector<double> got = values(out), exact = reference_matmul(w, x);
            got_all.insert(got_all.end(), got.begin(), got.end());
            exact_all.insert(exact_all.end(), exact.begin(), exact.end());
            if (int8_activations) {
              const HostMat xq =
                  quantized_activations(x, kernel.activation == simd::ActivationFormat::q8_32 ? 32 : 256);
              const std::vector<double> used = reference_matmul(w, xq);
              used_all.insert(used_all.end(), used.begin(), used.end());
            } else if (bf16_dot) {
              const bool rounded = cols % 2 == 0;
              rounded_any = rounded_any || rounded;
              const std::vector<double> used = reference_matmul(w, rounded ? bf16_activations(x) : x);
              used_all.insert(used_all.end(), used.begin(), used.end());
            }
          }
      SCOPED_TRACE(std::string(type_name(type)) + (prepared ? " prepared" : ""));
      // Against the exact product: float32 accumulation alone (~1e-7 relative per sum) stays far below 1e-9;
      // int8 activations add their rounding, (max|x|/127)^2/12 relative: ~5e-5 for Gaussian x.
      // BF16-rounded activations: 2^-9 relative at most per element, ~1e-6 in NMSE.
      EXPECT_LT(nmse(got_all, exact_all), int8_activations ? 3e-4 : bf16_dot ? 1e-5 : 1e-9);
      if (bf16_dot) {
        EXPECT_TRUE(rounded_any) << "no BF16 shape of even width reached the AVX512-BF16 kernel";
      }
      // Against the product with the activations the kernel actually used: only float32 accumulation
      // remains, so any slip in the integer unpacking shows up here.
      if (int8_activations || bf16_dot) {
        EXPECT_LT(nmse(got_all, used_all), 1e-9);
      }
    }
}

// The numerics contract: a (weight row, activation row) pair gives the same bits for n = 1 and n > 1 and
// for 1 or 2 threads, so prefill logits equal decode logits.
TEST_P(SimdIsaTest, MatmulBitsIndependentOfBatchAndThreads) {
  std::mt19937 rng(99);
  auto one_thread = make(1);
  auto two_threads = make(2);
  for (bool prepared : {false, true})
    for (TensorType type : kModelWeightTypes) {
      SCOPED_TRACE(std::string(type_name(type)) + (prepared ? " prepared" : ""));
      const int64_t rows = 301, cols = 512, n = 6;  // big enough that the 2-thread backend splits it
      const TestWeight w = random_weight(type, rows, cols, rng);
      const HostMat x = random_mat(n, cols, rng);
      const WeightHandle view = std::make_shared<const PreparedWeight>(w.weight);
      const WeightHandle h1 = prepared ? one_thread->prepare(w.weight, OpKind::matmul) : view;
      const WeightHandle h2 = prepared ? two_threads->prepare(w.weight, OpKind::matmul) : view;
      HostMat batch1(n, rows), batch2(n, rows), single(n, rows);
      one_thread->matmul(*h1, x.mat, batch1.mat);
      two_threads->matmul(*h2, x.mat, batch2.mat);
      for (int64_t i = 0; i < n; ++i)
        one_thread->matmul(*h1, x.mat.row_range(i, 1), single.mat.row_range(i, 1));
      for (int64_t i = 0; i < n; ++i)
        for (int64_t r = 0; r < rows; ++r) {
          ASSERT_EQ(std::memcmp(&batch1.at(i, r), &batch2.at(i, r), 4), 0)
              << "threads differ at " << i << "," << r;
          ASSERT_EQ(std::memcmp(&batch1.at(i, r), &single.at(i, r), 4), 0)
              << "batch differs at " << i << "," << r;
        }
    }
}

// A grouped matmul (one job over several weights of one input, as attn_qkv and ffn_gate_up run) gives
// each output the bits of that weight's own matmul: the same kernels, whatever the task split. Weights of
// both int8 activation formats and of float activations share one group, so one call quantizes x twice.
TEST_P(SimdIsaTest, GroupedMatmulEqualsSeparateMatmuls) {
  std::mt19937 rng(7);
  auto backend = make(2);
  const int64_t cols = 512;
  for (bool prepared : {false, true})
    for (int64_t n : {1, 5}) {
      SCOPED_TRACE(std::string(prepared ? "prepared" : "row-major") + " n=" + std::to_string(n));
      const TestWeight q = random_weight(TensorType::Q4_0, 300, cols, rng);
      const TestWeight k = random_weight(TensorType::Q6_K, 48, cols, rng);
      const TestWeight v = random_weight(TensorType::F16, 37, cols, rng);
      std::vector<WeightHandle> handles;
      for (const TestWeight* w : {&q, &k, &v})
        handles.push_back(prepared ? backend->prepare(w->weight, OpKind::matmul)
                                   : std::make_shared<const PreparedWeight>(w->weight));
      const HostMat x = random_mat(n, cols, rng);
      const PreparedWeight* const weights[] = {handles[0].get(), handles[1].get(), handles[2].get()};
      HostMat grouped[] = {HostMat(n, 300), HostMat(n, 48), HostMat(n, 37)};
      HostMat single[] = {HostMat(n, 300), HostMat(n, 48), HostMat(n, 37)};
      const Mat outs[] = {grouped[0].mat, grouped[1].mat, grouped[2].mat};
      backend->matmuls(weights, x.mat, outs);
      for (int w = 0; w < 3; ++w) backend->matmul(*weights[w], x.mat, single[w].mat);
      for (int w = 0; w < 3; ++w)
        for (int64_t i = 0; i < n; ++i)
          for (int64_t r = 0; r < weights[w]->host.rows; ++r)
            ASSERT_EQ(std::memcmp(&grouped[w].at(i, r), &single[w].at(i, r), 4), 0)
                << "weight " << w << " at " << i << "," << r;
    }
}

// ---- element-wise ops ----
// Thresholds 1e-10: float32 arithmetic (and a vector exp of ~2 ulp) against float64, ~1e-7 relative per
// element, so ~1e-14 in squares; a wrong element or stride gives ~1.

TEST_P(SimdIsaTest, EmbedRowsOfEveryType) {
  std::mt19937 rng(5);
  auto backend = make();
  for (TensorType type : {TensorType::F32, TensorType::F16, TensorType::Q4_0, TensorType::Q6_K}) {
    const int64_t cols = type_info(type).block_elems == 1 ? 67 : 2 * type_info(type).block_elems;
    const TestWeight table = random_weight(type, 11, cols, rng);
    const std::vector<int32_t> tokens = {3, 0, 10, 3};
    HostMat out(4, cols);
    const WeightHandle h = backend->prepare(table.weight, OpKind::embed);
    backend->embed(*h, tokens, out.mat);
    for (size_t i = 0; i < tokens.size(); ++i)
      for (int64_t c = 0; c < cols; ++c)
        ASSERT_EQ(out.at(int64_t(i), c), static_cast<float>(table.dequantized[tokens[i] * cols + c]));
    const std::vector<int32_t> bad = {11};
    EXPECT_THROW(backend->embed(*h, bad, out.mat.row_range(0, 1)), Error);
  }
}

TEST_P(SimdIsaTest, RmsnormMatchesReference) {
  std::mt19937 rng(6);
  auto backend = make(2);
  for (int64_t cols : {1, 9, 64, 2051})
    for (int64_t n : {1, 4, 40}) {
      const HostMat x = random_mat(n, cols, rng, 3.0f);
      const TestWeight gain = random_weight(TensorType::F32, 1, cols, rng);
      HostMat out(n, cols);
      const float eps = 1e-5f;
      const WeightHandle g = backend->prepare(gain.weight, OpKind::rmsnorm);
      backend->rmsnorm(x.mat, *g, eps, out.mat);
      std::vector<double> want;
      for (int64_t r = 0; r < n; ++r) {
        double ss = 0;
        for (int64_t c = 0; c < cols; ++c) ss += double(x.at(r, c)) * x.at(r, c);
        const double s = 1.0 / std::sqrt(ss / cols + eps);
        for (int64_t c = 0; c < cols; ++c) want.push_back(x.at(r, c) * s * gain.dequantized[c]);
      }
      EXPECT_LT(nmse(values(out), want), 1e-10) << cols << " x " << n;
      HostMat in_place = x;  // out may equal x
      in_place.mat.data = in_place.storage.data();
      backend->rmsnorm(in_place.mat, *g, eps, in_place.mat);
      EXPECT_EQ(values(in_place), values(out));
    }
}

TEST_P(SimdIsaTest, SwigluAndAddMatchReference) {
  std::mt19937 rng(7);
  auto backend = make(2);
  for (int64_t cols : {1, 7, 8, 173, 5632})
    for (int64_t n : {1, 13}) {
      const HostMat gate = random_mat(n, cols, rng, 4.0f), up = random_mat(n, cols, rng);
      HostMat out(n, cols);
      backend->swiglu(gate.mat, up.mat, out.mat);
      std::vector<double> want;
      for (int64_t r = 0; r < n; ++r)
        for (int64_t c = 0; c < cols; ++c) {
          const double g = gate.at(r, c);
          want.push_back(g / (1.0 + std::exp(-g)) * up.at(r, c));
        }
      EXPECT_LT(nmse(values(out), want), 1e-10) << cols << " x " << n;

      HostMat acc = random_mat(n, cols, rng);
      acc.mat.data = acc.storage.data();
      std::vector<double> sum = values(acc);
      const std::vector<double> xs = values(up);
      for (size_t i = 0; i < sum.size(); ++i) sum[i] += xs[i];
      backend->add(acc.mat, up.mat);
      EXPECT_LT(nmse(values(acc), sum), 1e-13);
    }
  // Saturated gates: silu(-100) ~ 0 and silu(100) = 100, no NaN from the exp.
  HostMat gate(1, 2), up(1, 2), out(1, 2);
  gate.at(0, 0) = -100, gate.at(0, 1) = 100, up.at(0, 0) = up.at(0, 1) = 1;
  backend->swiglu(gate.mat, up.mat, out.mat);
  EXPECT_NEAR(out.at(0, 0), 0.0f, 1e-30);
  EXPECT_FLOAT_EQ(out.at(0, 1), 100.0f);
}

TEST_P(SimdIsaTest, RopeMatchesReference) {
  std::mt19937 rng(8);
  auto backend = make(2);
  std::vector<float> factors = {1.0f, 2.0f, 4.0f, 8.0f, 1.5f, 1.0f, 3.0f, 1.0f};
  const WeightHandle factor_handle = backend->prepare(
      Weight{"rope_freqs", TensorType::F32, factors.data(), 1, 8, 8 * sizeof(float)}, OpKind::rope);
  for (bool with_factors : {false, true})
    for (int64_t pos0 : {0, 7, 4000})
      for (int64_t n : {1, 5}) {
        RopeParams p;
        p.n_heads = 4, p.n_kv_heads = 2, p.head_dim = 16, p.rot_dims = 16, p.freq_base = 10000.0f;
        p.freq_factors = with_factors ? factor_handle.get() : nullptr;
        HostMat q = random_mat(n, 64, rng), k = random_mat(n, 32, rng);
        std::vector<double> want_q = values(q), want_k = values(k);
        auto rotate = [&](std::vector<double>& v, int64_t cols) {
          for (int64_t i = 0; i < n; ++i)
            for (int64_t h = 0; h < cols / p.head_dim; ++h)
              for (int d = 0; d < p.rot_dims; d += 2) {
                double theta = double(pos0 + i) * std::pow(10000.0, -double(d) / p.rot_dims);
                if (with_factors) theta /= factors[d / 2];
                double& a = v[i * cols + h * p.head_dim + d];
                double& b = v[i * cols + h * p.head_dim + d + 1];
                const double a0 = a, b0 = b;
                a = a0 * std::cos(theta) - b0 * std::sin(theta);
                b = a0 * std::sin(theta) + b0 * std::cos(theta);
              }
        };
        rotate(want_q, 64);
        rotate(want_k, 32);
        backend->rope(q.mat, k.mat, pos0, p);
        EXPECT_LT(nmse(values(q), want_q), 1e-12);
        EXPECT_LT(nmse(values(k), want_k), 1e-12);
      }
}

std::vector<double> reference_attention(const HostMat& q, const HostMat& kc, const HostMat& vc, int64_t pos0,
                                        const AttentionShape& s) {
  std::vector<double> out;
  const int group = s.n_heads / s.n_kv_heads;
  for (int64_t i = 0; i < q.mat.rows; ++i)
    for (int h = 0; h < s.n_heads; ++h) {
      const int64_t n_keys = pos0 + i + 1, kv = int64_t(h / group) * s.head_dim;
      std::vector<double> scores(static_cast<size_t>(n_keys));
      double max_score = -INFINITY, total = 0;
      for (int64_t t = 0; t < n_keys; ++t) {
        double dot = 0;
        for (int d = 0; d < s.head_dim; ++d) dot += double(q.at(i, h * s.head_dim + d)) * kc.at(t, kv + d);
        scores[t] = dot / std::sqrt(double(s.head_dim));
        max_score = std::max(max_score, scores[t]);
      }
      for (double& sc : scores) total += sc = std::exp(sc - max_score);
      for (int d = 0; d < s.head_dim; ++d) {
        double acc = 0;
        for (int64_t t = 0; t < n_keys; ++t) acc += scores[t] * vc.at(t, kv + d);
        out.push_back(acc / total);
      }
    }
  return out;
}

TEST_P(SimdIsaTest, AttentionMatchesReferenceAndPrefillEqualsDecode) {
  std::mt19937 rng(9);
  auto backend = make(2);
  struct Case {
    int n_heads, n_kv_heads, head_dim;
    int64_t pos0, n;
  };
  for (const Case& c : {Case{1, 1, 8, 0, 1}, Case{8, 4, 8, 0, 9}, Case{4, 1, 13, 3, 5},
                        Case{32, 4, 64, 700, 1}, Case{6, 2, 64, 1000, 7}, Case{2, 2, 5, 37, 3}}) {
    SCOPED_TRACE(std::to_string(c.n_heads) + "/" + std::to_string(c.n_kv_heads) + " x " +
                 std::to_string(c.head_dim) + " pos0 " + std::to_string(c.pos0) + " n " +
                 std::to_string(c.n));
    const AttentionShape shape{c.n_heads, c.n_kv_heads, c.head_dim};
    const int64_t capacity = c.pos0 + c.n + 2, kv_cols = int64_t(c.n_kv_heads) * c.head_dim;
    // Scores up to ~|20| so a softmax without the max shift would lose accuracy or overflow.
    const HostMat q = random_mat(c.n, int64_t(c.n_heads) * c.head_dim, rng, 2.0f);
    const HostMat kc = random_mat(capacity, kv_cols, rng, 2.0f), vc = random_mat(capacity, kv_cols, rng);
    HostMat out(c.n, q.mat.cols);
    const KvCache cache = KvCache::f32_view(kc.mat, vc.mat);
    backend->attention(q.mat, cache, c.pos0, shape, out.mat);
    EXPECT_LT(nmse(values(out), reference_attention(q, kc, vc, c.pos0, shape)), 1e-10);
    // Row by row, as decode would run it: the same bits.
    HostMat decode(c.n, q.mat.cols);
    for (int64_t i = 0; i < c.n; ++i)
      backend->attention(q.mat.row_range(i, 1), cache, c.pos0 + i, shape, decode.mat.row_range(i, 1));
    EXPECT_EQ(values(decode), values(out));
  }
}

INSTANTIATE_TEST_SUITE_P(Isa, SimdIsaTest, ::testing::ValuesIn(kAllIsas),
                         [](const ::testing::TestParamInfo<SimdIsa>& info) {
                           return simd_isa_name(info.param);
                         });

// ---- ISA selection, description ----

TEST(SimdBackend, IsaEnvironmentVariableLowersThePath) {
  const char* saved = std::getenv("LLAMASCOPE_SIMD_ISA");
  const std::string saved_value = saved ? saved : "";
  setenv("LLAMASCOPE_SIMD_ISA", "portable", 1);
  EXPECT_EQ(simd_isa_selected(), SimdIsa::portable);
  auto backend = simd_backend_entry().create(BackendOptions{2});
  EXPECT_EQ(backend->name(), "simd");
  EXPECT_NE(backend->description().find("portable"), std::string::npos) << backend->description();
  EXPECT_NE(backend->description().find("2 threads"), std::string::npos) << backend->description();
  setenv("LLAMASCOPE_SIMD_ISA", "avx512", 1);  // never above what the CPU has
  EXPECT_TRUE(simd_isa_supported(simd_isa_selected()));
  setenv("LLAMASCOPE_SIMD_ISA", "sse9", 1);
  EXPECT_THROW(simd_isa_selected(), Error);
  if (saved)
    setenv("LLAMASCOPE_SIMD_ISA", saved_value.c_str(), 1);
  else
    unsetenv("LLAMASCOPE_SIMD_ISA");
}

// Q5_K's fifth bits unpacked with GFNI give the bits of the test-and-add path, for decode and prefill
// batches.
TEST(SimdBackend, Q5KGfniPathGivesTheSameBits) {
  if (!simd_gfni(SimdIsa::avx512)) GTEST_SKIP() << "this CPU has no AVX-512 VNNI with GFNI";
  auto with_gfni = create_simd_backend(BackendOptions{1}, SimdIsa::avx512);
  setenv("LLAMASCOPE_SIMD_NO_GFNI", "1", 1);
  auto without = create_simd_backend(BackendOptions{1}, SimdIsa::avx512);
  unsetenv("LLAMASCOPE_SIMD_NO_GFNI");
  ASSERT_NE(with_gfni->description().find("GFNI"), std::string::npos) << with_gfni->description();
  ASSERT_EQ(without->description().find("GFNI"), std::string::npos) << without->description();
  std::mt19937 rng(5);
  const int64_t rows = 37, cols = 768;
  const TestWeight w = random_weight(TensorType::Q5_K, rows, cols, rng);
  const WeightHandle a = with_gfni->prepare(w.weight, OpKind::matmul);
  const WeightHandle b = without->prepare(w.weight, OpKind::matmul);
  for (int64_t n : {1, 6}) {
    const HostMat x = random_mat(n, cols, rng);
    HostMat out_a(n, rows), out_b(n, rows);
    with_gfni->matmul(*a, x.mat, out_a.mat);
    without->matmul(*b, x.mat, out_b.mat);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t r = 0; r < rows; ++r)
        ASSERT_EQ(std::memcmp(&out_a.at(i, r), &out_b.at(i, r), 4), 0)
            << "n " << n << " at " << i << "," << r;
  }
}

// The exactness test behind packing F32 weights in 16 bits: true exactly when the value survives the round
// trip through the type (the converters of kernels/quant.h), over normals, half subnormals, zeros, values
// just outside either range and infinities; a NaN is never taken as F16.
TEST(SimdBackend, Exact16BitTypesAgreeWithTheRoundTrip) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<uint32_t> bits;
  std::uniform_int_distribution<int> exponent(-30, 20);
  std::vector<float> cases = {0.0f,
                              -0.0f,
                              1.0f,
                              65504.0f,
                              65520.0f,
                              std::ldexp(1.0f, -24),
                              std::ldexp(1.0f, -25),
                              std::ldexp(3.0f, -24),
                              std::ldexp(1.5f, -24),
                              INFINITY,
                              NAN};
  for (int i = 0; i < 200000; ++i) {
    const float v = std::ldexp(std::bit_cast<float>((bits(rng) & 0x807FFFFFu) | 0x3F800000u), exponent(rng));
    cases.push_back(v);
    cases.push_back(fp16_to_fp32(fp32_to_fp16(v)));
    cases.push_back(bf16_to_fp32(fp32_to_bf16(v)));
  }
  for (const float v : cases) {
    const simd::Exact16Bit exact = simd::exact_16bit_types(&v, 1);
    const uint32_t u = std::bit_cast<uint32_t>(v);
    if (std::isnan(v))
      EXPECT_FALSE(exact.f16);
    else
      EXPECT_EQ(exact.f16, std::bit_cast<uint32_t>(fp16_to_fp32(fp32_to_fp16(v))) == u) << v;
    EXPECT_EQ(exact.bf16, (u & 0xFFFFu) == 0) << v;
  }
  // One inexact value anywhere in a long run clears the type.
  std::vector<float> run(10000, 0.5f);
  run[7777] = 1.0f + std::ldexp(1.0f, -20);
  const simd::Exact16Bit exact = simd::exact_16bit_types(run.data(), static_cast<int64_t>(run.size()));
  EXPECT_FALSE(exact.f16);
  EXPECT_FALSE(exact.bf16);
}

// F32 weights whose values are all F16 (or BF16) values are packed in 16 bits and give the bits of the F32
// kernel, on both ISAs and for decode and prefill batches; a weight with one value that is neither stays F32.
TEST(SimdBackend, F32WeightsHeldIn16BitsGiveTheSameBits) {
  std::mt19937 rng(12);
  const int64_t rows = 37, cols = 256;
  for (const SimdIsa isa : {SimdIsa::avx512, SimdIsa::avx2}) {
    if (!simd_isa_supported(isa)) continue;
    for (const TensorType as : {TensorType::F16, TensorType::BF16, TensorType::F32}) {
      SCOPED_TRACE(std::string(simd_isa_name(isa)) + " values of " + type_name(as));
      TestWeight w = random_weight(TensorType::F32, rows, cols, rng);
      float* values = reinterpret_cast<float*>(w.bytes.data());
      for (int64_t i = 0; i < rows * cols; ++i) {
        float v = values[i] * 0.05f;
        if (i % 97 == 0) v = std::ldexp(v, -14);  // half subnormals too
        values[i] = as == TensorType::F16 ? fp16_to_fp32(fp32_to_fp16(v)) : bf16_to_fp32(fp32_to_bf16(v));
      }
      if (as == TensorType::F32) values[rows * cols / 2] = 1.0f + std::ldexp(1.0f, -20);
      auto narrowing = create_simd_backend(BackendOptions{2}, isa);
      setenv("LLAMASCOPE_SIMD_KEEP_F32", "1", 1);
      auto keeping = create_simd_backend(BackendOptions{2}, isa);
      unsetenv("LLAMASCOPE_SIMD_KEEP_F32");
      const WeightHandle a = narrowing->prepare(w.weight, OpKind::matmul);
      const WeightHandle b = keeping->prepare(w.weight, OpKind::matmul);
      const std::string held = as == TensorType::F16    ? "1 as F16, 0 as BF16, of 1"
                               : as == TensorType::BF16 ? "0 as F16, 1 as BF16, of 1"
                                                        : "0 as F16, 0 as BF16, of 1";
      EXPECT_NE(narrowing->description().find(held), std::string::npos) << narrowing->description();
      EXPECT_EQ(keeping->description().find("16 bits"), std::string::npos) << keeping->description();
      EXPECT_EQ(a->bytes, as == TensorType::F32 ? b->bytes : b->bytes / 2);
      for (int64_t n : {1, 7}) {
        const HostMat x = random_mat(n, cols, rng);
        HostMat out_a(n, rows), out_b(n, rows);
        narrowing->matmul(*a, x.mat, out_a.mat);
        keeping->matmul(*b, x.mat, out_b.mat);
        for (int64_t i = 0; i < n; ++i)
          for (int64_t r = 0; r < rows; ++r)
            ASSERT_EQ(std::memcmp(&out_a.at(i, r), &out_b.at(i, r), 4), 0)
                << "n " << n << " at " << i << "," << r;
      }
    }
  }
}

// ---- thread pool ----

TEST(ThreadPool, RunsEveryTaskExactlyOnceAcrossManyRuns) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.threads(), threads);
    std::vector<std::atomic<int>> counts(97);
    for (int run = 0; run < 1000; ++run) {
      const int64_t n_tasks = run % 97 + 1;
      pool.run(n_tasks, [&](int64_t t) { counts[t].fetch_add(1, std::memory_order_relaxed); });
    }
    for (int64_t t = 0; t < 97; ++t) {
      int expected = 0;
      for (int run = 0; run < 1000; ++run) expected += t < run % 97 + 1;
      EXPECT_EQ(counts[t].load(), expected) << "task " << t << " threads " << threads;
    }
  }
}

TEST(ThreadPool, WakesSleepingWorkers) {
  ThreadPool pool(2);
  std::atomic<int> done{0};
  pool.run(4, [&](int64_t) { done.fetch_add(1); });
  std::this_thread::sleep_for(std::chrono::milliseconds(5));  // past the spin: the worker sleeps
  pool.run(4, [&](int64_t) { done.fetch_add(1); });
  EXPECT_EQ(done.load(), 8);
}

TEST(ThreadPool, RestingBetweenRunsLosesNoTask) {
  // rest() after every other run: the workers go to sleep at once and the next run wakes them; two pools
  // take turns, as an in-process A/B does.
  ThreadPool a(2), b(3);
  std::atomic<int64_t> sum{0};
  int64_t expected = 0;
  for (int run = 0; run < 500; ++run) {
    ThreadPool& pool = run % 2 ? a : b;
    const int64_t n_tasks = run % 13 + 2;
    pool.run(n_tasks, [&](int64_t t) { sum.fetch_add(t + 1, std::memory_order_relaxed); });
    expected += n_tasks * (n_tasks + 1) / 2;
    if (run % 3 != 2) pool.rest();
  }
  EXPECT_EQ(sum.load(), expected);
}

}  // namespace
}  // namespace llamascope
