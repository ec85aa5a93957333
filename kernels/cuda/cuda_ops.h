// The CUDA backend's launcher API: plain functions over device pointers, sizes and a stream, one per
// kernel family. Everything that runs on the GPU sits behind this header (implemented in the .cu files
// beside it), so the adapter that implements the project's kernel interface (cuda_backend.cpp) is the only
// file that knows that interface: reshaping it touches the adapter alone. Every function throws
// llamascope::Error with one line on a CUDA or cuBLAS failure; none synchronises the host unless it says so.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "base/non_copyable.h"
#include "base/tensor_type.h"

namespace llamascope::cuda {

// ---- device and availability ----
// Empty when a CUDA device that this build has machine code for is usable, else why not ("no CUDA
// driver", "no CUDA device", "driver too old (needs CUDA 13.0, has 12.4)", "device sm_100 ...").
std::string unavailable_reason();
// "NVIDIA H200 (sm_90, 132 SMs, 139.8 GiB), driver 13.0, runtime 13.0".
std::string device_description();
// The architectures this build carries machine code for, e.g. "sm_80 sm_90a".
const char* built_architectures();

// ---- memory (a failed allocation throws "out of device memory: ...") ----
void* device_alloc(size_t bytes);  // zeroed
void device_free(void* p);
void* host_alloc_pinned(size_t bytes);
void host_free_pinned(void* p);
// 2-D copies, rows of `width` bytes. Host memory may be pageable; both block until the copy completed
// (the host buffer may be reused on return).
void copy_to_device(void* dst, size_t dst_pitch, const void* src, size_t src_pitch, size_t width, size_t rows,
                    cudaStream_t stream);
void copy_to_host(void* dst, size_t dst_pitch, const void* src, size_t src_pitch, size_t width, size_t rows,
                  cudaStream_t stream);
// Asynchronous copy from pinned host memory (capturable in a CUDA graph).
void copy_pinned_to_device_async(void* dst, const void* src, size_t bytes, cudaStream_t stream);
cudaStream_t stream_create();
void stream_destroy(cudaStream_t stream);
void stream_synchronize(cudaStream_t stream);

// Pinned host memory for the small per-step uploads (token ids): acquire() waits only for the previous
// copy out of it (normally long finished; skipped while a graph is captured) and copy_to() queues the copy
// on the stream, so an upload never synchronises the host with the device's queue.
class HostStaging : NonCopyable {
 public:
  explicit HostStaging(cudaStream_t stream);
  ~HostStaging();
  void* acquire(size_t bytes);
  void copy_to(void* device_dst, size_t bytes);

 private:
  cudaStream_t stream_;
  void* host_ = nullptr;
  size_t bytes_ = 0;
  cudaEvent_t done_ = nullptr;
  bool pending_ = false;
};
// Whether work queued on `stream` is being captured into a graph (no allocation or host wait allowed).
bool stream_capturing(cudaStream_t stream);

// ---- kernels. Matrices are row-major floats: `rows` rows, consecutive rows `stride` floats apart ----
struct DMat {
  float* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t stride = 0;
};

// Which weight types have kernels here: every type the engine reads from a file (not Q8_1/Q8_K, which
// are activation formats).
bool weight_type_supported(TensorType type);

// The device dequantization code (the same functions the kernels call, walking a row chunk by chunk as
// they do) run on the host: lets a unit test check every block layout without a GPU.
void dequantize_row_host(TensorType type, const void* row, int64_t cols, float* out);

// out row i = dequantized row i of the packed rows at `rows_data` (n rows, `row_bytes` apart, `cols`
// elements of `type`).
void dequantize_rows(TensorType type, const void* rows_data, size_t row_bytes, int64_t cols, DMat out,
                     cudaStream_t stream);
// out row i = row tokens[i] of the table (device token ids).
void embed_rows(TensorType type, const void* table, size_t row_bytes, int64_t cols, const int32_t* tokens,
                DMat out, cudaStream_t stream);

// out = x * rsqrt(mean(x^2) + eps) * gain (gain: x.cols device floats). out may equal x.
void rmsnorm(DMat x, const float* gain, float eps, DMat out, cudaStream_t stream);
// out = silu(gate) * up; out may equal gate.
void swiglu(DMat gate, DMat up, DMat out, cudaStream_t stream);
// acc += x
void add(DMat acc, DMat x, cudaStream_t stream);

struct RopeArgs {
  int n_heads = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
  int rot_dims = 0;
  float freq_base = 10000.0f;
  const float* freq_factors = nullptr;  // device, rot_dims / 2 floats, or null
};
// In place on q and k; row i is at position pos0 + i.
void rope(DMat q, DMat k, int64_t pos0, const RopeArgs& args, cudaStream_t stream);

// ---- KV cache: rows of keys or values stored as float32 or IEEE half ----
// dst rows [0, src.rows) := src rows, converted to half (round to nearest even) when `half`; dst_stride is
// in elements of the stored type.
void kv_store(DMat src, void* dst, int64_t dst_stride, bool half, cudaStream_t stream);

// One layer's cache as the attention kernels read it: strides in elements of the stored type.
struct DKv {
  const void* k = nullptr;
  const void* v = nullptr;
  int64_t k_stride = 0;
  int64_t v_stride = 0;
  bool half = false;  // elements are IEEE half (widened exactly in the kernel), else float32
};

// Scratch the attention kernels need for one call (bytes); the caller passes at least that much.
size_t attention_scratch_bytes(int64_t n, int64_t pos0, int n_heads, int n_kv_heads, int head_dim);
// Causal GQA attention of n query rows at positions pos0.. over cache rows [0, pos0 + n).
void attention(DMat q, const DKv& cache, int64_t pos0, int n_heads, int n_kv_heads, int head_dim, DMat out,
               void* scratch, cudaStream_t stream);

// ---- matmul: out (n x rows) = x (n x cols) . W^T, W = `rows` packed rows of `type`, `row_bytes` apart ----
struct DWeight {
  TensorType type = TensorType::F32;
  const void* data = nullptr;  // device
  int64_t rows = 0;
  int64_t cols = 0;
  size_t row_bytes = 0;
};
// Batches up to this many rows use the matrix-vector kernels (each weight read once for all rows);
// larger ones go through cuBLAS on F16/BF16 (or F32) operands.
constexpr int64_t kMatvecMaxRows = 8;

// Owns the cuBLAS handle and the scratch of the GEMM path (dequantized weight tiles, converted
// activations, the cuBLAS workspace). One per stream.
class Gemm : NonCopyable {
 public:
  explicit Gemm(cudaStream_t stream);
  ~Gemm();

  void matmul(const DWeight& w, DMat x, DMat out);
  // Grows the scratch for a later matmul of these sizes now, so that no allocation happens while a
  // stream is being captured into a graph.
  void reserve(const DWeight& w, int64_t n);

 private:
  void* scratch(size_t bytes);

  cudaStream_t stream_;
  void* handle_ = nullptr;  // cublasHandle_t
  void* workspace_ = nullptr;
  void* scratch_ = nullptr;
  size_t scratch_bytes_ = 0;
};

// The matrix-vector path alone (n <= kMatvecMaxRows), for tests and the op checker's n = 1 cases.
void matvec(const DWeight& w, DMat x, DMat out, cudaStream_t stream);

// ---- CUDA graphs: capture a stream's work once, replay it ----
// A decode step is captured with begin()/end(); end() turns the capture into an executable graph (updating
// the previous one in place when the step has the same topology, as it has from one token to the next) and
// launches it. Nothing inside a capture may synchronise the host or allocate.
class GraphRunner : NonCopyable {
 public:
  ~GraphRunner();

  void begin(cudaStream_t stream);
  void end_and_launch(cudaStream_t stream);
  bool capturing() const { return capturing_; }
  int instantiations() const { return instantiations_; }
  int updates() const { return updates_; }

 private:
  void* exec_ = nullptr;  // cudaGraphExec_t
  bool capturing_ = false;
  int instantiations_ = 0;
  int updates_ = 0;
};

// ---- timing with CUDA events (per-op profiles without host clocks) ----
class EventTimer : NonCopyable {
 public:
  explicit EventTimer(cudaStream_t stream);
  ~EventTimer();
  void start();
  void stop();
  // Waits for the stop event; nanoseconds between the two events.
  uint64_t elapsed_ns();

 private:
  cudaStream_t stream_;
  cudaEvent_t start_ = nullptr;
  cudaEvent_t stop_ = nullptr;
};

}  // namespace llamascope::cuda
