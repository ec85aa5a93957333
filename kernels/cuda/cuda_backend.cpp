// The CUDA backend as the kernel interface (kernels/backend.h) sees it: the one file that translates
// between that interface and the launcher API of kernels/cuda/cuda_ops.h. prepare() uploads each weight
// once into a handle that owns its device copy (the packed rows of a matmul weight or embedding table; norm
// gains and rope factors converted to float32), so the ops read device memory straight from the handle and
// the copy is freed with the last handle. Activations (alloc) and the KV cache (alloc_kv) are device memory
// owned by the Buffer / KvCache returned.
#include "kernels/cuda/cuda_backend.h"

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/non_copyable.h"
#include "base/tensor_type.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/quant.h"

namespace llamascope {
namespace {

struct DeviceBuffer : NonCopyable {
  void* ptr = nullptr;
  size_t bytes = 0;
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

// What prepare() returns: the file's view plus the device copy the ops read. For matmul and embed the copy
// is the file's packed rows (dequantized by the kernels); for rmsnorm and rope it is float32 values.
struct CudaWeight final : PreparedWeight {
  CudaWeight(const Weight& w, const Backend* by, size_t device_bytes) : PreparedWeight(w, by, device_bytes) {
    buffer.ptr = cuda::device_alloc(device_bytes);
    buffer.bytes = device_bytes;
  }
  DeviceBuffer buffer;

  cuda::DWeight packed() const {
    return cuda::DWeight{host.type, buffer.ptr, host.rows, host.cols, host.row_bytes};
  }
  const float* floats() const { return static_cast<const float*>(buffer.ptr); }
};

class CudaTimer final : public OpTimer {
 public:
  explicit CudaTimer(cudaStream_t stream) : events_(stream) {}
  const char* clock_name() const override { return "cuda_event"; }
  void start() override { events_.start(); }
  uint64_t stop() override {
    events_.stop();
    return events_.elapsed_ns();
  }

 private:
  cuda::EventTimer events_;
};

class CudaBackend final : public Backend {
 public:
  CudaBackend()
      : stream_(cuda::stream_create()), gemm_(std::make_unique<cuda::Gemm>(stream_)), tokens_host_(stream_) {}
  ~CudaBackend() override {
    cudaStreamSynchronize(stream_);
    gemm_.reset();
    cuda::stream_destroy(stream_);
  }

  std::string name() const override { return "cuda"; }
  MemorySpace memory_space() const override { return MemorySpace::cuda; }
  bool supports(OpKind op, TensorType type) const override {
    switch (op) {
      case OpKind::matmul:
      case OpKind::embed:
        return cuda::weight_type_supported(type);
      case OpKind::attention:  // the cache's element type
        return type == TensorType::F32 || type == TensorType::F16;
      case OpKind::rmsnorm:  // gains and rope factors are converted to float32 on the host when prepared
      case OpKind::rope:
      case OpKind::swiglu:
      case OpKind::add:
        return true;
      case OpKind::count:
        break;
    }
    return false;
  }
  std::string description() const override { return cuda::device_description(); }

  Buffer alloc(int64_t rows, int64_t cols) override {
    void* p = cuda::device_alloc(static_cast<size_t>(rows * cols) * sizeof(float));
    // cudaFree waits for the device, so no queued kernel still reads the memory when it goes.
    std::shared_ptr<void> memory(p, [](void* q) { cuda::device_free(q); });
    return Buffer{Mat{static_cast<float*>(p), rows, cols, cols}, std::move(memory)};
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
  std::unique_ptr<OpTimer> make_timer() override { return std::make_unique<CudaTimer>(stream_); }

  // The default alloc_kv (two alloc() buffers sized for the type) already puts the cache in device memory;
  // kv_write and attention read it by its type.

  WeightHandle prepare(const Weight& w, OpKind use) override {
    if (!w.present()) throw Error("cuda: weight '" + w.name + "' has no data");
    if (use == OpKind::matmul || use == OpKind::embed) {
      if (!cuda::weight_type_supported(w.type))
        throw Error(std::string("cuda: no kernels for weight type ") + type_name(w.type) + " ('" + w.name +
                    "')");
      auto handle = std::make_shared<CudaWeight>(w, this, w.bytes());
      cuda::copy_to_device(handle->buffer.ptr, w.row_bytes, w.data, w.row_bytes, w.row_bytes,
                           static_cast<size_t>(w.rows), stream_);
      return handle;
    }
    if (use == OpKind::rmsnorm || use == OpKind::rope) {
      const int64_t count = w.rows * w.cols;
      std::vector<float> values(static_cast<size_t>(count));
      for (int64_t r = 0; r < w.rows; ++r)
        dequantize_row(w.type, w.row(r), values.data() + r * w.cols, w.cols);
      const size_t bytes = values.size() * sizeof(float);
      auto handle = std::make_shared<CudaWeight>(w, this, bytes);
      cuda::copy_to_device(handle->buffer.ptr, bytes, values.data(), bytes, bytes, 1, stream_);
      return handle;
    }
    return Backend::prepare(w, use);
  }

  void embed(const PreparedWeight& table, std::span<const int32_t> tokens, Mat out) override {
    const CudaWeight& d = device(table);
    const size_t bytes = tokens.size() * sizeof(int32_t);
    token_ids_.reserve(bytes, stream_);
    std::memcpy(tokens_host_.acquire(bytes), tokens.data(), bytes);
    tokens_host_.copy_to(token_ids_.ptr, bytes);
    cuda::embed_rows(d.host.type, d.buffer.ptr, d.host.row_bytes, d.host.cols,
                     static_cast<const int32_t*>(token_ids_.ptr),
                     dev(out.row_range(0, static_cast<int64_t>(tokens.size()))), stream_);
  }

  void rmsnorm(Mat x, const PreparedWeight& gain, float eps, Mat out) override {
    cuda::rmsnorm(dev(x), device(gain).floats(), eps, dev(out), stream_);
  }

  void matmul(const PreparedWeight& w, Mat x, Mat out) override {
    gemm_->matmul(device(w).packed(), dev(x), dev(out));
  }

  void rope(Mat q, Mat k, int64_t pos0, const RopeParams& p) override {
    cuda::RopeArgs a{p.n_heads, p.n_kv_heads, p.head_dim, p.rot_dims, p.freq_base, nullptr};
    if (p.freq_factors) a.freq_factors = device(*p.freq_factors).floats();
    cuda::rope(dev(q), dev(k), pos0, a, stream_);
  }

  void kv_write(KvCache& cache, Mat k, Mat v, int64_t pos0) override {
    if (pos0 < 0 || pos0 + k.rows > cache.capacity)
      throw Error("cuda: KV cache write of rows [" + std::to_string(pos0) + ", " +
                  std::to_string(pos0 + k.rows) + ") past its capacity " + std::to_string(cache.capacity));
    const bool half = cache.type == TensorType::F16;
    for (auto [src, dst] : {std::pair{k, cache.k}, std::pair{v, cache.v}}) {
      const int64_t stride = elements_stride(dst, half);
      void* at = half ? static_cast<void*>(reinterpret_cast<uint16_t*>(dst.data) + pos0 * stride)
                      : static_cast<void*>(dst.data + pos0 * stride);
      cuda::kv_store(dev(src), at, stride, half, stream_);
    }
  }

  void attention(Mat q, const KvCache& cache, int64_t pos0, const AttentionShape& s, Mat out) override {
    if (cache.type != TensorType::F32 && cache.type != TensorType::F16)
      throw Error(std::string("cuda: no attention over a KV cache of ") + type_name(cache.type));
    const bool half = cache.type == TensorType::F16;
    const cuda::DKv kv{cache.k.data, cache.v.data, elements_stride(cache.k, half),
                       elements_stride(cache.v, half), half};
    const size_t bytes = cuda::attention_scratch_bytes(q.rows, pos0, s.n_heads, s.n_kv_heads, s.head_dim);
    attention_scratch_.reserve(bytes, stream_);
    cuda::attention(dev(q), kv, pos0, s.n_heads, s.n_kv_heads, s.head_dim, dev(out), attention_scratch_.ptr,
                    stream_);
  }

  void swiglu(Mat gate, Mat up, Mat out) override { cuda::swiglu(dev(gate), dev(up), dev(out), stream_); }
  void add(Mat acc, Mat x) override { cuda::add(dev(acc), dev(x), stream_); }

  // ---- CUDA graph hooks (docs/cuda.md, "CUDA graphs"): the forward brackets a decode step with these
  // once it has run a step of the same shape eagerly; end_capture() replays the captured step. ----
  void begin_capture() { graph_.begin(stream_); }
  void end_capture_and_replay() { graph_.end_and_launch(stream_); }

 private:
  static cuda::DMat dev(Mat m) { return cuda::DMat{m.data, m.rows, m.cols, m.stride}; }
  // A cache Mat's row stride in stored elements: an F16 cache keeps rows of halves in floats' room.
  static int64_t elements_stride(const Mat& m, bool half) { return half ? 2 * m.stride : m.stride; }

  // The device copy behind a handle this backend prepared. KernelSet prepares each weight on the backend
  // that runs its op, so another owner here is a caller's bug.
  const CudaWeight& device(const PreparedWeight& w) const {
    if (w.owner != this)
      throw Error("cuda: weight '" + w.host.name + "' was not prepared by this CUDA backend");
    return static_cast<const CudaWeight&>(w);
  }

  cudaStream_t stream_;
  std::unique_ptr<cuda::Gemm> gemm_;
  cuda::HostStaging tokens_host_;
  DeviceBuffer token_ids_;
  DeviceBuffer attention_scratch_;
  cuda::GraphRunner graph_;
};

}  // namespace

BackendEntry cuda_backend_entry() {
  return BackendEntry{
      "cuda",
      std::string("NVIDIA GPUs (machine code for ") + cuda::built_architectures() +
          "): device-resident weights, dequantizing matrix-vector kernels for decode, cuBLAS tensor-core "
          "GEMM for prefill, split-sequence attention over an F32 or F16 KV cache",
      [] { return cuda::unavailable_reason(); },
      [](const BackendOptions&) -> std::unique_ptr<Backend> { return std::make_unique<CudaBackend>(); },
      MemorySpace::cuda,
      /*fallback_rank=*/10,  // every op and weight type: the fallback of the cuda memory space
  };
}

}  // namespace llamascope
