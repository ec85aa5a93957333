#include "kernels/onednn/onednn_backend.h"

#include <omp.h>

#include <map>
#include <oneapi/dnnl/dnnl.hpp>
#include <tuple>
#include <vector>

#include "kernels/quant.h"

namespace llamascope {
namespace {

using dnnl::memory;

// An F16 or BF16 weight widened to F32 (oneDNN's f32 matmul reads it); F32 weights are used in place.
struct WidenedWeight final : PreparedWeight {
  using PreparedWeight::PreparedWeight;
  std::vector<float> widened;
};

std::vector<float> widen(const Weight& w) {
  std::vector<float> f(static_cast<size_t>(w.rows * w.cols));
  for (int64_t r = 0; r < w.rows; ++r) dequantize_row(w.type, w.row(r), f.data() + r * w.cols, w.cols);
  return f;
}

class OnednnBackend final : public Backend {
 public:
  explicit OnednnBackend(const BackendOptions& options)
      : threads_(options.threads), engine_(dnnl::engine::kind::cpu, 0), stream_(engine_) {}

  std::string name() const override { return "onednn"; }
  bool supports(OpKind op, TensorType type) const override {
    return op == OpKind::matmul &&
           (type == TensorType::F32 || type == TensorType::F16 || type == TensorType::BF16);
  }
  std::string description() const override {
    const dnnl_version_t* v = dnnl_version();
    return "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
           std::to_string(v->patch) + " matmul (f32), OpenMP threads " + std::to_string(threads_);
  }

  Buffer alloc(int64_t rows, int64_t cols) override { return host_buffer(rows, cols); }
  void upload(Mat dst, const float* src) override {
    for (int64_t r = 0; r < dst.rows; ++r)
      std::copy(src + r * dst.cols, src + (r + 1) * dst.cols, dst.data + r * dst.stride);
  }
  void download(Mat src, float* dst) override {
    for (int64_t r = 0; r < src.rows; ++r)
      std::copy(src.data + r * src.stride, src.data + r * src.stride + src.cols, dst + r * src.cols);
  }

  WeightHandle prepare(const Weight& w, OpKind use) override {
    auto handle = std::make_shared<WidenedWeight>(w, this);
    if (use == OpKind::matmul && w.type != TensorType::F32) {
      handle->widened = widen(w);
      handle->bytes = handle->widened.size() * sizeof(float);
    }
    return handle;
  }

  void matmul(const PreparedWeight& handle, Mat x, Mat out) override {
    const Weight& w = handle.host;
    const float* weights = static_cast<const float*>(w.data);
    std::vector<float> temporary;  // a handle another backend made: widened for this call only
    if (w.type != TensorType::F32) {
      if (handle.owner == this && !static_cast<const WidenedWeight&>(handle).widened.empty()) {
        weights = static_cast<const WidenedWeight&>(handle).widened.data();
      } else {
        temporary = widen(w);
        weights = temporary.data();
      }
    }
    omp_set_num_threads(threads_);
    const memory::dim n = x.rows, k = w.cols, m = w.rows;
    // x (n x k, row stride x.stride) times W^T: W is m x k row-major, i.e. a k x m matrix with strides (1,
    // k).
    const memory::desc src_md({n, k}, memory::data_type::f32, memory::dims{x.stride, 1});
    const memory::desc wei_md({k, m}, memory::data_type::f32, memory::dims{1, k});
    const memory::desc dst_md({n, m}, memory::data_type::f32, memory::dims{out.stride, 1});
    const auto key = std::make_tuple(n, k, m, x.stride, out.stride);
    auto it = primitives_.find(key);
    if (it == primitives_.end()) {
      const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src_md, wei_md, dst_md), engine_);
      it = primitives_.emplace(key, dnnl::matmul(pd)).first;
    }
    memory src(src_md, engine_, x.data), wei(wei_md, engine_, const_cast<float*>(weights)),
        dst(dst_md, engine_, out.data);
    it->second.execute(stream_, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}});
    stream_.wait();
  }

 private:
  int threads_;
  dnnl::engine engine_;
  dnnl::stream stream_;
  std::map<std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t>, dnnl::matmul> primitives_;
};

}  // namespace

BackendEntry onednn_backend_entry() {
  return BackendEntry{
      "onednn",
      "oneDNN matmul primitive for F32/F16/BF16 weights (widened to F32); other ops fall back",
      always_available,
      create_backend<OnednnBackend>,
  };
}

}  // namespace llamascope
