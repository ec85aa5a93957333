// The one kernel interface. The forward pass (engine/forward.cpp) is written against `Backend` only; each
// backend (scalar, simd, onednn, cuda) implements these ops on memory it owns, so a device backend fits
// without touching the model code. `KernelSet` (kernels/kernel_set.h) composes backends per op.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "base/tensor_type.h"

namespace llamascope {

// The ops of a LLaMA forward pass. Stable names: they appear in `llamascope kernels` and on the CLI
// (`-k simd,matmul=scalar`).
enum class OpKind { embed, rmsnorm, matmul, rope, attention, swiglu, add, count };
const char* op_kind_name(OpKind op);

// Where a backend's buffers live. Backends compose per op only within one memory space (KernelSet refuses a
// set that mixes two: docs/design.md says why).
enum class MemorySpace { host, cuda };
const char* memory_space_name(MemorySpace space);

// A row-major matrix of float32 activations in backend-owned memory: `rows` rows of `cols` floats,
// consecutive rows `stride` floats apart. The forward never dereferences `data` (it may be device memory).
struct Mat {
  float* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t stride = 0;

  // Rows [first, first + count) of this matrix, sharing its memory.
  Mat row_range(int64_t first, int64_t count) const {
    return Mat{data + first * stride, count, cols, stride};
  }
};

// A weight tensor as the model file stores it: `rows` rows of `cols` elements of `type` (a 1-D tensor has
// rows = 1), rows `row_bytes` apart, in host memory (usually memory-mapped). Matmul computes x · Wᵀ, so
// `cols` is the input width and `rows` the output width, as GGUF's ne[0] and ne[1].
struct Weight {
  std::string name;
  TensorType type = TensorType::F32;
  const void* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  size_t row_bytes = 0;

  bool present() const { return data != nullptr; }
  size_t bytes() const { return row_bytes * static_cast<size_t>(rows); }
  const uint8_t* row(int64_t r) const { return static_cast<const uint8_t*>(data) + r * row_bytes; }
};

class Backend;

// A weight as one backend holds it, made by Backend::prepare from the file's view: plus whatever the backend
// made of it (a repacked copy, a device upload), which it frees with the handle. Ops take these handles,
// never host pointers to look a copy up by. A backend that keeps more derives from it and sets `owner`.
struct PreparedWeight {
  explicit PreparedWeight(const Weight& w, const Backend* by = nullptr, size_t extra_bytes = 0)
      : host(w), owner(by), bytes(extra_bytes) {}
  virtual ~PreparedWeight() = default;

  Weight host;           // the file's view (host memory; a device backend reads it only while preparing)
  const Backend* owner;  // the backend whose subclass this is; null for the file's view as it is
  size_t bytes;          // memory held for it beyond the file (repacked or device copy)
};
// Shared by the forwards (and kernel sets) that use a weight; the backend's copy goes with the last of them.
using WeightHandle = std::shared_ptr<const PreparedWeight>;

// Activation memory a backend allocated: the matrix plus its ownership. Freed when the last copy of the
// Buffer goes, so memory lives as long as the Forward (or test) that asked for it.
struct Buffer {
  Mat mat;
  std::shared_ptr<void> memory;
};
// Zeroed host memory for rows x cols floats, rows packed, 64-byte aligned: every host backend's alloc().
Buffer host_buffer(int64_t rows, int64_t cols);

// One layer's attention cache: `capacity` rows of keys and of values, kv_dim elements each, in backend
// memory, stored as `type` (F32, or F16 for half the memory). An F32 row r starts at k.data + r * k.stride;
// an F16 cache keeps its rows of halves in Mats of kv_dim / 2 floats' room (row r of halves at
// (uint16_t*)k.data + r * 2 * k.stride). Made by Backend::alloc_kv, written by kv_write, read by attention.
struct KvCache {
  TensorType type = TensorType::F32;
  int64_t capacity = 0;
  int64_t kv_dim = 0;
  Mat k, v;
  std::shared_ptr<void> memory;  // owns k and v; null for a view

  size_t bytes() const {
    return 2 * static_cast<size_t>(capacity * kv_dim) * (type == TensorType::F16 ? 2 : 4);
  }
  // An F32 cache over matrices someone else owns (tests, benchmarks).
  static KvCache f32_view(Mat k, Mat v) { return KvCache{TensorType::F32, k.rows, k.cols, k, v, nullptr}; }
};
// kv_write for a cache in host memory (every host backend's).
void host_kv_write(KvCache& cache, Mat k, Mat v, int64_t pos0);

// RoPE as LLaMA applies it: pairs of adjacent elements (2i, 2i+1) of each head rotated by
// position * theta_i, theta_i = base^(-2i/rot_dims) / factors[i] (factors from `rope_freqs`, may be null).
struct RopeParams {
  int n_heads = 0;     // heads in q
  int n_kv_heads = 0;  // heads in k
  int head_dim = 0;
  int rot_dims = 0;  // leading dims of each head that rotate (= head_dim for LLaMA)
  float freq_base = 10000.0f;
  const PreparedWeight* freq_factors = nullptr;  // F32, rot_dims / 2 of them (`rope_freqs`), or null
};

struct AttentionShape {
  int n_heads = 0;
  int n_kv_heads = 0;  // n_heads % n_kv_heads == 0; query head h reads KV head h / (n_heads / n_kv_heads)
  int head_dim = 0;
};

// Times ops on a backend's own timeline: the host's steady clock for a CPU backend, device events for a
// device (they time the queued work, not the host enqueueing it). Forward brackets each profiled op with
// start() and stop().
class OpTimer {
 public:
  virtual ~OpTimer() = default;
  // Stable name recorded with each time it measured ("host_steady", "cuda_event").
  virtual const char* clock_name() const = 0;
  virtual void start() = 0;
  // The ns since start(); waits for the work queued in between (a profiled op's only synchronisation).
  virtual uint64_t stop() = 0;
};

struct BackendOptions {
  int threads = 1;
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual std::string name() const = 0;
  virtual MemorySpace memory_space() const { return MemorySpace::host; }
  // Whether this backend implements `op` for weights of `type` (the type is ignored by ops without weights).
  // Nothing is supported unless a backend says so; KernelSet sends the rest to a fallback backend.
  virtual bool supports(OpKind op, TensorType type) const {
    (void)op, (void)type;
    return false;
  }
  // A line for `llamascope kernels`: ISA chosen, library version, device... Empty when nothing to add.
  virtual std::string description() const { return {}; }

  // Memory. alloc returns zeroed rows x cols floats, valid while a copy of the Buffer is held.
  virtual Buffer alloc(int64_t rows, int64_t cols) = 0;
  virtual void upload(Mat dst, const float* src) = 0;  // src: dst.rows x dst.cols host floats, packed
  virtual void download(Mat src, float* dst) = 0;      // dst: src.rows x src.cols host floats, packed
  // Ops may return before their work is done (a device backend queues it); synchronize() waits for all of
  // it, and download() returns finished values. Host backends finish each op before returning.
  virtual void synchronize() {}
  // Nothing will run on this backend for a while (another kernel set's turn in an in-process A/B): give
  // the CPU back now, e.g. end the workers' spin-wait, so the other set's threads do not compete with it.
  virtual void rest() {}
  // The timer for per-op profiles. Default: the host steady clock, synchronize() before and after each op.
  virtual std::unique_ptr<OpTimer> make_timer();

  // A KV cache of `type` (F32 or F16; supports(OpKind::attention, type) says which this backend reads).
  // Default: two alloc() buffers sized for the type.
  virtual KvCache alloc_kv(int64_t capacity, int64_t kv_dim, TensorType type);

  // The handle of `w` for the ops that read it as `use` (matmul: weights; embed: the table; rmsnorm: gains;
  // rope: frequency factors). A backend may repack it (SIMD interleaving, library reorders) or upload it (a
  // device), reporting the bytes in the handle. Default: the file's view, no copy.
  virtual WeightHandle prepare(const Weight& w, OpKind use) {
    (void)use;
    return std::make_shared<const PreparedWeight>(w);
  }

  // ---- ops (shapes are the caller's promise; backends may assert) ----
  // A backend overrides the ops its supports() accepts. The defaults are never reached through KernelSet;
  // called directly for an op the backend does not support, they throw std::logic_error (a caller's bug).
  // out row i = row tokens[i] of `table` (vocab x dim), converted to float.
  virtual void embed(const PreparedWeight& table, std::span<const int32_t> tokens, Mat out);
  // out = x / sqrt(mean(x^2) + eps) * gain, row by row. out may equal x.
  virtual void rmsnorm(Mat x, const PreparedWeight& gain, float eps, Mat out);
  // out (n x w.rows) = x (n x w.cols) · wᵀ.
  virtual void matmul(const PreparedWeight& w, Mat x, Mat out);
  // outs[i] = x · weights[i]ᵀ for matmuls of one input (q, k and v; gate and up), in one call so that a
  // backend can prepare x once and spread all their rows over its threads as one job: a k or v matrix
  // alone is too small to keep every core streaming. Every weight here is one this backend supports.
  virtual void matmuls(std::span<const PreparedWeight* const> weights, Mat x, std::span<const Mat> outs) {
    for (size_t i = 0; i < weights.size(); ++i) matmul(*weights[i], x, outs[i]);
  }
  // In place on q (n x n_heads*head_dim) and k (n x n_kv_heads*head_dim); row i is at position pos0 + i.
  // One op for both so that sin/cos are computed once per (position, pair).
  virtual void rope(Mat q, Mat k, int64_t pos0, const RopeParams& params);
  // Cache rows [pos0, pos0 + k.rows) := k and v (n x kv_dim floats), converted to the cache's type. Run by
  // the backend that runs attention on a cache of that type.
  virtual void kv_write(KvCache& cache, Mat k, Mat v, int64_t pos0);
  // Causal attention for n query rows at positions pos0..pos0+n-1 over cache rows [0, pos0+n):
  // q: n x n_heads*head_dim, cache: n_kv_heads*head_dim wide, out: like q. supports(attention, T) is about
  // caches of type T.
  virtual void attention(Mat q, const KvCache& cache, int64_t pos0, const AttentionShape& shape, Mat out);
  // out = silu(gate) * up, element-wise. out may equal gate.
  virtual void swiglu(Mat gate, Mat up, Mat out);
  // acc += x, element-wise.
  virtual void add(Mat acc, Mat x);

 private:
  [[noreturn]] void unsupported(OpKind op) const;
};

// ---- registry ----
struct BackendEntry {
  std::string name;
  std::string summary;                  // one line for `llamascope kernels`
  std::string (*unavailable_reason)();  // empty string when usable here
  std::unique_ptr<Backend> (*create)(const BackendOptions&);
  MemorySpace memory = MemorySpace::host;  // what create() returns reports the same
  // Where KernelSet sends an op the chosen backend lacks: the available backends of the same memory space
  // with a rank above 0, highest first. 0: never a fallback (library and test backends).
  int fallback_rank = 0;
};

// BackendEntry::create for a backend class built from the options (or from nothing).
template <class B>
std::unique_ptr<Backend> create_backend(const BackendOptions& options) {
  if constexpr (std::is_constructible_v<B, const BackendOptions&>)
    return std::make_unique<B>(options);
  else
    return std::make_unique<B>();
}
// BackendEntry::unavailable_reason for a backend that runs wherever this build does.
inline std::string always_available() {
  return {};
}

// Every backend configured into this build, in the order kernels/CMakeLists.txt adds their folders (scalar
// first). CMake generates the list from each folder's llamascope_add_backend() (kernels/backends.cmake),
// calling every `*_backend_entry()` explicitly so that a static library cannot drop one.
const std::vector<BackendEntry>& backend_registry();
const BackendEntry* find_backend(const std::string& name);

}  // namespace llamascope
