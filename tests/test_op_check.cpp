// The op checker in CTest: every available backend passes every case, and a deliberately broken kernel
// (one block's scale off in the weights it reads) is caught.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "kernels/op_check.h"
#include "kernels/quant.h"

namespace llamascope {
namespace {

class OpCheck : public testing::TestWithParam<std::string> {};

TEST_P(OpCheck, EveryCasePasses) {
  const BackendEntry* entry = find_backend(GetParam());
  ASSERT_NE(entry, nullptr);
  if (!entry->unavailable_reason().empty()) GTEST_SKIP() << entry->unavailable_reason();
  for (int threads : {1, 2}) {
    std::unique_ptr<Backend> backend = entry->create(BackendOptions{threads});
    int checked = 0;
    for (const OpDesc& c : default_op_cases()) {
      const OpCheckResult r = check_op(*backend, c);
      if (!r.supported) continue;
      ++checked;
      EXPECT_TRUE(r.passed()) << GetParam() << " -t " << threads << ": " << c.str() << " nmse=" << r.nmse
                              << " limit=" << r.limit << (r.finite ? "" : " NaN/Inf")
                              << (r.guards_intact ? "" : " out-of-bounds write");
    }
    EXPECT_GT(checked, 0) << GetParam() << " offers no op at all";
  }
}

std::vector<std::string> backend_names() {
  std::vector<std::string> names;
  for (const BackendEntry& e : backend_registry()) names.push_back(e.name);
  return names;
}

INSTANTIATE_TEST_SUITE_P(Backends, OpCheck, testing::ValuesIn(backend_names()),
                         [](const testing::TestParamInfo<std::string>& info) { return info.param; });

TEST(OpCheck, ReferenceBackendsCoverEveryOpAndType) {
  // The scalar and simd backends must offer every case; only library backends may skip some.
  for (const char* name : {"scalar", "simd"}) {
    std::unique_ptr<Backend> backend = find_backend(name)->create(BackendOptions{1});
    for (const OpDesc& c : default_op_cases())
      EXPECT_TRUE(backend->supports(c.kind, c.type())) << name << ": " << c.str();
  }
}

// A backend whose matmul reads weights with the scale of the second block of every row multiplied by 1.5,
// standing for a dequantization bug that is off in one block only.
class OneBlockOffBackend final : public Backend {
 public:
  OneBlockOffBackend() : inner_(find_backend("scalar")->create(BackendOptions{1})) {}
  std::string name() const override { return "broken"; }
  bool supports(OpKind op, TensorType t) const override { return inner_->supports(op, t); }
  Buffer alloc(int64_t r, int64_t c) override { return inner_->alloc(r, c); }
  void upload(Mat d, const float* s) override { inner_->upload(d, s); }
  void download(Mat s, float* d) override { inner_->download(s, d); }
  void embed(const PreparedWeight& t, std::span<const int32_t> k, Mat o) override { inner_->embed(t, k, o); }
  void rmsnorm(Mat x, const PreparedWeight& g, float e, Mat o) override { inner_->rmsnorm(x, g, e, o); }
  void rope(Mat q, Mat k, int64_t p, const RopeParams& r) override { inner_->rope(q, k, p, r); }
  void kv_write(KvCache& c, Mat k, Mat v, int64_t p) override { inner_->kv_write(c, k, v, p); }
  void attention(Mat q, const KvCache& c, int64_t p, const AttentionShape& s, Mat o) override {
    inner_->attention(q, c, p, s, o);
  }
  void swiglu(Mat g, Mat u, Mat o) override { inner_->swiglu(g, u, o); }
  void add(Mat a, Mat x) override { inner_->add(a, x); }

  void matmul(const PreparedWeight& handle, Mat x, Mat out) override {
    const Weight& w = handle.host;
    std::vector<uint8_t> bytes(static_cast<const uint8_t*>(w.data),
                               static_cast<const uint8_t*>(w.data) + w.bytes());
    const TensorTypeInfo& info = type_info(w.type);
    const size_t block = w.cols > info.block_elems ? 1 : 0;  // the second block when the row has one
    for (int64_t row = 0; row < w.rows; ++row)
      scale_block(w.type, bytes.data() + row * w.row_bytes + block * info.block_bytes);
    Weight broken = w;
    broken.data = bytes.data();
    inner_->matmul(PreparedWeight(broken), x, out);
  }

 private:
  static void scale_block(TensorType type, uint8_t* target) {
    if (type == TensorType::F32) {
      float v;
      std::memcpy(&v, target, 4);
      v *= 1.5f;
      std::memcpy(target, &v, 4);
    } else {
      // Every block layout here holds a half-float scale `d` at a known place: scale it by 1.5.
      size_t d_offset = 0;
      switch (type) {
        case TensorType::Q2_K:
          d_offset = 80;
          break;
        case TensorType::Q3_K:
          d_offset = 108;
          break;
        case TensorType::Q6_K:
          d_offset = 208;
          break;
        default:
          d_offset = 0;
          break;  // F16/BF16 element 0, and every type whose block starts with d
      }
      uint16_t h;
      std::memcpy(&h, target + d_offset, 2);
      h = type == TensorType::BF16 ? fp32_to_bf16(bf16_to_fp32(h) * 1.5f)
                                   : fp32_to_fp16(fp16_to_fp32(h) * 1.5f);
      std::memcpy(target + d_offset, &h, 2);
    }
  }

  std::unique_ptr<Backend> inner_;
};

TEST(OpCheck, CatchesOneBlockScaleOff) {
  OneBlockOffBackend broken;
  int caught = 0, cases = 0;
  for (const OpDesc& c : default_op_cases()) {
    // Single matmuls: a grouped case only routes to the same broken matmul, with its error diluted by the
    // other weights' rows (BF16's one scaled element then sits under the limit).
    if (c.kind != OpKind::matmul || c.n != 1 || c.rows[0] < 33 || c.weights > 1) continue;
    ++cases;
    const OpCheckResult r = check_op(broken, c);
    EXPECT_FALSE(r.passed()) << "not caught: " << c.str() << " nmse=" << r.nmse;
    caught += !r.passed();
  }
  EXPECT_GE(cases, 13 * 3);  // every weight type, three widths
  EXPECT_EQ(caught, cases);
}

}  // namespace
}  // namespace llamascope
