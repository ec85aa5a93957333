// The CUDA backend as the kernel interface (kernels/backend.h) sees it: the one file that translates
// between that interface and the launcher API of kernels/cuda/cuda_ops.h. Weights arrive as host pointers
// (memory-mapped file data); this adapter keeps a device copy of each, found again by its host address and
// shape: prepare() uploads (or, if the bytes at that address changed, re-uploads) a matmul weight, and the
// embedding table, norm gains and rope factors are uploaded on first use and re-checked against their host
// bytes on each use, so a host buffer reused for other data never yields a stale device copy.
#include "kernels/cuda/cuda_backend.h"

#include <cstring>
#include <map>
#include <memory>
#include <vector>

#include "base/error.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/quant.h"

namespace llamascope {
namespace {

// Host bytes kept to recognise a buffer again: all of a small one, a sample of a large one (its ends and
// 64 evenly spaced pieces), which catches a different tensor placed at the same address.
std::vector<uint8_t> fingerprint(const void* data, size_t bytes) {
  const auto* p = static_cast<const uint8_t*>(data);
  constexpr size_t kWhole = 64 << 10, kEnd = 4096, kPiece = 64, kPieces = 64;
  if (bytes <= kWhole) return std::vector<uint8_t>(p, p + bytes);
  std::vector<uint8_t> f(p, p + kEnd);
  f.insert(f.end(), p + bytes - kEnd, p + bytes);
  for (size_t i = 0; i < kPieces; ++i) {
    const size_t at = (bytes - kPiece) / kPieces * i;
    f.insert(f.end(), p + at, p + at + kPiece);
  }
  return f;
}

bool same_fingerprint(const std::vector<uint8_t>& f, const void* data, size_t bytes) {
  const auto* p = static_cast<const uint8_t*>(data);
  constexpr size_t kWhole = 64 << 10, kEnd = 4096, kPiece = 64, kPieces = 64;
  if (bytes <= kWhole) return f.size() == bytes && std::memcmp(f.data(), p, bytes) == 0;
  if (f.size() != 2 * kEnd + kPieces * kPiece) return false;
  if (std::memcmp(f.data(), p, kEnd) != 0 || std::memcmp(f.data() + kEnd, p + bytes - kEnd, kEnd) != 0)
    return false;
  for (size_t i = 0; i < kPieces; ++i) {
    const size_t at = (bytes - kPiece) / kPieces * i;
    if (std::memcmp(f.data() + 2 * kEnd + i * kPiece, p + at, kPiece) != 0) return false;
  }
  return true;
}

struct DeviceBuffer {
  void* ptr = nullptr;
  size_t bytes = 0;
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { cuda::device_free(ptr); }
  // Grows (never shrinks) to at least `want` bytes; the old contents are lost.
  void reserve(size_t want, cudaStream_t stream) {
    if (want <= bytes) return;
    if (ptr) {
      cuda::stream_synchronize(stream);  // queued kernels may still use the old buffer
      cuda::device_free(ptr);
      ptr = nullptr;
      bytes = 0;
    }
    ptr = cuda::device_alloc(want);
    bytes = want;
  }
};

// A weight's device copy.
struct DeviceWeight {
  DeviceBuffer buffer;
  TensorType type = TensorType::F32;
  int64_t rows = 0, cols = 0;
  size_t row_bytes = 0;
  std::vector<uint8_t> print;  // fingerprint of the host bytes uploaded
};

class CudaBackend final : public Backend {
 public:
  CudaBackend()
      : stream_(cuda::stream_create()), gemm_(std::make_unique<cuda::Gemm>(stream_)), tokens_host_(stream_) {}
  ~CudaBackend() override {
    cudaStreamSynchronize(stream_);
    gemm_.reset();
    weights_.clear();
    small_.clear();
    for (void* p : buffers_) cuda::device_free(p);
    cuda::stream_destroy(stream_);
  }

  std::string name() const override { return "cuda"; }
  MemorySpace memory_space() const override { return MemorySpace::cuda; }
  bool supports(OpKind op, TensorType type) const override {
    if (op == OpKind::matmul || op == OpKind::embed) return cuda::weight_type_supported(type);
    return true;
  }
  std::string description() const override { return cuda::device_description(); }

  Mat alloc(int64_t rows, int64_t cols) override {
    void* p = cuda::device_alloc(static_cast<size_t>(rows * cols) * sizeof(float));
    buffers_.push_back(p);
    return Mat{static_cast<float*>(p), rows, cols, cols};
  }
  void upload(Mat dst, const float* src) override {
    cuda::copy_to_device(dst.data, dst.stride * sizeof(float), src, dst.cols * sizeof(float),
                         dst.cols * sizeof(float), dst.rows, stream_);
  }
  void download(Mat src, float* dst) override {
    cuda::copy_to_host(dst, src.cols * sizeof(float), src.data, src.stride * sizeof(float),
                       src.cols * sizeof(float), src.rows, stream_);
  }
  void synchronize() override { cuda::stream_synchronize(stream_); }

  size_t prepare(const Weight& w) override {
    const DeviceWeight& d = device_weight(w, /*check_bytes=*/true);
    return d.buffer.bytes;
  }

  void embed(const Weight& table, std::span<const int32_t> tokens, Mat out) override {
    const DeviceWeight& d = device_weight(table, /*check_bytes=*/true);
    const size_t bytes = tokens.size() * sizeof(int32_t);
    token_ids_.reserve(bytes, stream_);
    std::memcpy(tokens_host_.acquire(bytes), tokens.data(), bytes);
    tokens_host_.copy_to(token_ids_.ptr, bytes);
    cuda::embed_rows(d.type, d.buffer.ptr, d.row_bytes, d.cols, static_cast<const int32_t*>(token_ids_.ptr),
                     dev(out.row_range(0, static_cast<int64_t>(tokens.size()))), stream_);
  }

  void rmsnorm(Mat x, const Weight& gain, float eps, Mat out) override {
    cuda::rmsnorm(dev(x), small_floats(gain.data, gain.bytes(), gain.type, gain.cols), eps, dev(out),
                  stream_);
  }

  void matmul(const Weight& w, Mat x, Mat out) override {
    const DeviceWeight& d = device_weight(w, /*check_bytes=*/false);
    gemm_->matmul(cuda::DWeight{d.type, d.buffer.ptr, d.rows, d.cols, d.row_bytes}, dev(x), dev(out));
  }

  void rope(Mat q, Mat k, int64_t pos0, const RopeParams& p) override {
    cuda::RopeArgs a{p.n_heads, p.n_kv_heads, p.head_dim, p.rot_dims, p.freq_base, nullptr};
    if (p.freq_factors)
      a.freq_factors =
          small_floats(p.freq_factors, sizeof(float) * (p.rot_dims / 2), TensorType::F32, p.rot_dims / 2);
    cuda::rope(dev(q), dev(k), pos0, a, stream_);
  }

  void attention(Mat q, Mat k_cache, Mat v_cache, int64_t pos0, const AttentionShape& s, Mat out) override {
    const size_t bytes = cuda::attention_scratch_bytes(q.rows, pos0, s.n_heads, s.n_kv_heads, s.head_dim);
    attention_scratch_.reserve(bytes, stream_);
    cuda::attention(dev(q), dev(k_cache), dev(v_cache), pos0, s.n_heads, s.n_kv_heads, s.head_dim, dev(out),
                    attention_scratch_.ptr, stream_);
  }

  void swiglu(Mat gate, Mat up, Mat out) override { cuda::swiglu(dev(gate), dev(up), dev(out), stream_); }
  void add(Mat acc, Mat x) override { cuda::add(dev(acc), dev(x), stream_); }

  // ---- CUDA graph hooks (docs/cuda.md, "CUDA graphs"): the forward brackets a decode step with these
  // once it has run a step of the same shape eagerly; end_capture() replays the captured step. ----
  void begin_capture() { graph_.begin(stream_); }
  void end_capture_and_replay() { graph_.end_and_launch(stream_); }

 private:
  static cuda::DMat dev(Mat m) { return cuda::DMat{m.data, m.rows, m.cols, m.stride}; }

  // The device copy of `w`, uploaded when missing, of another shape, or (check_bytes) when the host bytes at
  // that address no longer match what was uploaded.
  DeviceWeight& device_weight(const Weight& w, bool check_bytes) {
    if (!w.present()) throw Error("cuda: weight '" + w.name + "' has no data");
    if (!cuda::weight_type_supported(w.type))
      throw Error(std::string("cuda: no kernels for weight type ") + type_name(w.type));
    DeviceWeight& d = weights_[w.data];
    const bool same_shape = d.buffer.ptr && d.type == w.type && d.rows == w.rows && d.cols == w.cols &&
                            d.row_bytes == w.row_bytes;
    if (same_shape && (!check_bytes || same_fingerprint(d.print, w.data, w.bytes()))) return d;
    d.buffer.reserve(w.bytes(), stream_);
    cuda::copy_to_device(d.buffer.ptr, w.row_bytes, w.data, w.row_bytes, w.row_bytes,
                         static_cast<size_t>(w.rows), stream_);
    d.type = w.type;
    d.rows = w.rows;
    d.cols = w.cols;
    d.row_bytes = w.row_bytes;
    d.print = fingerprint(w.data, w.bytes());
    return d;
  }

  // Small float vectors read by every call (norm gains, rope factors), converted to float32 on the host
  // once and re-uploaded only when their host bytes change.
  struct SmallEntry {
    std::vector<uint8_t> bytes;
    DeviceBuffer buffer;
  };
  const float* small_floats(const void* data, size_t bytes, TensorType type, int64_t count) {
    SmallEntry& e = small_[data];
    if (e.buffer.ptr && e.bytes.size() == bytes && std::memcmp(e.bytes.data(), data, bytes) == 0)
      return static_cast<const float*>(e.buffer.ptr);
    std::vector<float> values(static_cast<size_t>(count));
    dequantize_row(type, data, values.data(), count);
    e.buffer.reserve(values.size() * sizeof(float), stream_);
    const size_t value_bytes = values.size() * sizeof(float);
    cuda::copy_to_device(e.buffer.ptr, value_bytes, values.data(), value_bytes, value_bytes, 1, stream_);
    e.bytes.assign(static_cast<const uint8_t*>(data), static_cast<const uint8_t*>(data) + bytes);
    return static_cast<const float*>(e.buffer.ptr);
  }

  cudaStream_t stream_;
  std::unique_ptr<cuda::Gemm> gemm_;
  cuda::HostStaging tokens_host_;
  DeviceBuffer token_ids_;
  DeviceBuffer attention_scratch_;
  cuda::GraphRunner graph_;
  std::map<const void*, DeviceWeight> weights_;
  std::map<const void*, SmallEntry> small_;
  std::vector<void*> buffers_;
};

}  // namespace

BackendEntry cuda_backend_entry() {
  return BackendEntry{
      "cuda",
      std::string("NVIDIA GPUs (machine code for ") + cuda::built_architectures() +
          "): device-resident weights, dequantizing matrix-vector kernels for decode, cuBLAS tensor-core "
          "GEMM "
          "for prefill, split-sequence attention",
      [] { return cuda::unavailable_reason(); },
      [](const BackendOptions&) -> std::unique_ptr<Backend> { return std::make_unique<CudaBackend>(); },
  };
}

}  // namespace llamascope
