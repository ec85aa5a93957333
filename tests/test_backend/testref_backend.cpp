// The "testref" backend of test builds: every op forwarded to the scalar reference through its own class, so
// that the registry, kernel sets, op checker and golden tests are exercised by a backend they were not
// written for.
#include <memory>

#include "kernels/backend.h"

namespace llamascope {

BackendEntry scalar_backend_entry();

namespace {

class TestrefBackend final : public Backend {
 public:
  explicit TestrefBackend(const BackendOptions& options) : inner_(scalar_backend_entry().create(options)) {}

  std::string name() const override { return "testref"; }
  // Declines rope (and does not implement it): the golden tests then run testref with the registry's
  // fallback for it, as a backend that lacks an op runs.
  bool supports(OpKind op, TensorType type) const override {
    return op != OpKind::rope && inner_->supports(op, type);
  }
  std::string description() const override { return "test build only: the scalar ops behind a wrapper"; }

  Buffer alloc(int64_t rows, int64_t cols) override { return inner_->alloc(rows, cols); }
  void upload(Mat dst, const float* src) override { inner_->upload(dst, src); }
  void download(Mat src, float* dst) override { inner_->download(src, dst); }

  void embed(const PreparedWeight& table, std::span<const int32_t> tokens, Mat out) override {
    inner_->embed(table, tokens, out);
  }
  void rmsnorm(Mat x, const PreparedWeight& gain, float eps, Mat out) override {
    inner_->rmsnorm(x, gain, eps, out);
  }
  void matmul(const PreparedWeight& w, Mat x, Mat out) override { inner_->matmul(w, x, out); }
  void kv_write(KvCache& cache, Mat k, Mat v, int64_t pos0) override { inner_->kv_write(cache, k, v, pos0); }
  void attention(Mat q, const KvCache& cache, int64_t pos0, const AttentionShape& shape, Mat out) override {
    inner_->attention(q, cache, pos0, shape, out);
  }
  void swiglu(Mat gate, Mat up, Mat out) override { inner_->swiglu(gate, up, out); }
  void add(Mat acc, Mat x) override { inner_->add(acc, x); }

 private:
  std::unique_ptr<Backend> inner_;
};

}  // namespace

BackendEntry testref_backend_entry() {
  return BackendEntry{
      "testref",
      "test builds only: the scalar reference behind a wrapper (proves a backend folder is all it takes)",
      always_available,
      create_backend<TestrefBackend>,
  };
}

}  // namespace llamascope
