#include "kernels/scalar/scalar_backend.h"

#include <cmath>
#include <vector>

#include "kernels/quant.h"

namespace llamascope {
namespace {

class ScalarBackend final : public Backend {
 public:
  std::string name() const override { return "scalar"; }
  bool supports(OpKind, TensorType type) const override {
    return type != TensorType::Q8_1 && type != TensorType::Q8_K;
  }
  std::string description() const override { return "reference: plain loops, double accumulation, 1 thread"; }

  Buffer alloc(int64_t rows, int64_t cols) override { return host_buffer(rows, cols); }
  void upload(Mat dst, const float* src) override {
    for (int64_t r = 0; r < dst.rows; ++r)
      for (int64_t c = 0; c < dst.cols; ++c) dst.data[r * dst.stride + c] = src[r * dst.cols + c];
  }
  void download(Mat src, float* dst) override {
    for (int64_t r = 0; r < src.rows; ++r)
      for (int64_t c = 0; c < src.cols; ++c) dst[r * src.cols + c] = src.data[r * src.stride + c];
  }

  void embed(const PreparedWeight& handle, std::span<const int32_t> tokens, Mat out) override {
    const Weight& table = handle.host;
    for (size_t i = 0; i < tokens.size(); ++i)
      dequantize_row(table.type, table.row(tokens[i]), out.data + i * out.stride, table.cols);
  }

  void rmsnorm(Mat x, const PreparedWeight& handle, float eps, Mat out) override {
    const Weight& gain = handle.host;
    std::vector<float> g(static_cast<size_t>(gain.cols));
    dequantize_row(gain.type, gain.data, g.data(), gain.cols);
    for (int64_t r = 0; r < x.rows; ++r) {
      const float* in = x.data + r * x.stride;
      double sum_sq = 0;
      for (int64_t c = 0; c < x.cols; ++c) sum_sq += double(in[c]) * in[c];
      const double scale = 1.0 / std::sqrt(sum_sq / x.cols + eps);
      float* o = out.data + r * out.stride;
      for (int64_t c = 0; c < x.cols; ++c) o[c] = static_cast<float>(in[c] * scale * g[c]);
    }
  }

  void matmul(const PreparedWeight& handle, Mat x, Mat out) override {
    const Weight& w = handle.host;
    std::vector<float> row(static_cast<size_t>(w.cols));
    for (int64_t r = 0; r < w.rows; ++r) {
      dequantize_row(w.type, w.row(r), row.data(), w.cols);
      for (int64_t i = 0; i < x.rows; ++i) {
        const float* xi = x.data + i * x.stride;
        double sum = 0;
        for (int64_t c = 0; c < w.cols; ++c) sum += double(row[c]) * xi[c];
        out.data[i * out.stride + r] = static_cast<float>(sum);
      }
    }
  }

  void rope(Mat q, Mat k, int64_t pos0, const RopeParams& p) override {
    rotate(q, p.n_heads, pos0, p);
    rotate(k, p.n_kv_heads, pos0, p);
  }

  static void rotate(Mat x, int n_heads, int64_t pos0, const RopeParams& p) {
    for (int64_t i = 0; i < x.rows; ++i) {
      const double pos = static_cast<double>(pos0 + i);
      for (int h = 0; h < n_heads; ++h) {
        float* head = x.data + i * x.stride + int64_t(h) * p.head_dim;
        for (int d = 0; d < p.rot_dims; d += 2) {
          double theta = pos * std::pow(double(p.freq_base), -double(d) / p.rot_dims);
          if (p.freq_factors) theta /= static_cast<const float*>(p.freq_factors->host.data)[d / 2];
          const double c = std::cos(theta), s = std::sin(theta);
          const double a = head[d], b = head[d + 1];
          head[d] = static_cast<float>(a * c - b * s);
          head[d + 1] = static_cast<float>(a * s + b * c);
        }
      }
    }
  }

  void kv_write(KvCache& cache, Mat k, Mat v, int64_t pos0) override { host_kv_write(cache, k, v, pos0); }

  void attention(Mat q, const KvCache& cache, int64_t pos0, const AttentionShape& shape, Mat out) override {
    const int group = shape.n_heads / shape.n_kv_heads;
    const double scale = 1.0 / std::sqrt(double(shape.head_dim));
    const bool half = cache.type == TensorType::F16;
    // Element j of cache row t, as stored (F32, or F16 widened exactly).
    auto element = [&](const Mat& m, int64_t t, int64_t j) -> double {
      if (!half) return m.data[t * m.stride + j];
      return fp16_to_fp32(reinterpret_cast<const uint16_t*>(m.data)[t * 2 * m.stride + j]);
    };
    std::vector<double> scores;
    for (int64_t i = 0; i < q.rows; ++i) {
      const int64_t n_keys = pos0 + i + 1;  // causal: this query sees cache rows [0, pos0 + i]
      scores.assign(static_cast<size_t>(n_keys), 0.0);
      for (int h = 0; h < shape.n_heads; ++h) {
        const float* qh = q.data + i * q.stride + int64_t(h) * shape.head_dim;
        const int64_t kv_offset = int64_t(h / group) * shape.head_dim;
        double max_score = -INFINITY;
        for (int64_t t = 0; t < n_keys; ++t) {
          double dot = 0;
          for (int d = 0; d < shape.head_dim; ++d) dot += double(qh[d]) * element(cache.k, t, kv_offset + d);
          scores[t] = dot * scale;
          max_score = std::max(max_score, scores[t]);
        }
        double total = 0;
        for (int64_t t = 0; t < n_keys; ++t) total += scores[t] = std::exp(scores[t] - max_score);
        float* oh = out.data + i * out.stride + int64_t(h) * shape.head_dim;
        for (int d = 0; d < shape.head_dim; ++d) {
          double acc = 0;
          for (int64_t t = 0; t < n_keys; ++t) acc += scores[t] * element(cache.v, t, kv_offset + d);
          oh[d] = static_cast<float>(acc / total);
        }
      }
    }
  }

  void swiglu(Mat gate, Mat up, Mat out) override {
    for (int64_t r = 0; r < gate.rows; ++r)
      for (int64_t c = 0; c < gate.cols; ++c) {
        const double g = gate.data[r * gate.stride + c];
        out.data[r * out.stride + c] =
            static_cast<float>(g / (1.0 + std::exp(-g)) * up.data[r * up.stride + c]);
      }
  }

  void add(Mat acc, Mat x) override {
    for (int64_t r = 0; r < acc.rows; ++r)
      for (int64_t c = 0; c < acc.cols; ++c) acc.data[r * acc.stride + c] += x.data[r * x.stride + c];
  }
};

}  // namespace

BackendEntry scalar_backend_entry() {
  return BackendEntry{
      "scalar",
      "reference kernels: plain loops, double accumulation, every op and type, 1 thread",
      always_available,
      create_backend<ScalarBackend>,
      MemorySpace::host,
      /*fallback_rank=*/10,  // has every op and type: the host fallback of last resort
  };
}

}  // namespace llamascope
