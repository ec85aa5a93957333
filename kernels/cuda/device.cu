// The CUDA backend's device plumbing: whether a usable device is here (and why not), memory, streams,
// copies, CUDA graph capture and replay, and CUDA-event timers.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "kernels/cuda/cublas_loader.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_ops.h"

#ifndef LLAMASCOPE_CUDA_ARCHS
#define LLAMASCOPE_CUDA_ARCHS "?"
#endif

namespace llamascope::cuda {
namespace {

// A kernel that does nothing: asking for its attributes tells whether this build has machine code for the
// device (sm_90a code runs only on sm_90; sm_80 code runs on every sm_8x).
__global__ void probe_kernel() {}

std::string version_string(int v) {
  return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10);
}

std::string find_reason() {
  int driver = 0;
  if (cudaDriverGetVersion(&driver) != cudaSuccess || driver == 0) {
    cudaGetLastError();
    return "no CUDA driver (libcuda.so.1 not found)";
  }
  int runtime = 0;
  CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  cudaGetLastError();
  if (err == cudaErrorInsufficientDriver || driver / 1000 < runtime / 1000)
    return "driver too old (needs CUDA " + std::to_string(runtime / 1000) + ".0, has " +
           version_string(driver) + ")";
  if (err == cudaErrorNoDevice || (err == cudaSuccess && count == 0)) return "no CUDA device";
  if (err != cudaSuccess) return std::string("CUDA unusable: ") + cudaGetErrorString(err);
  cudaFuncAttributes attr{};
  const cudaError_t probe = cudaFuncGetAttributes(&attr, probe_kernel);
  cudaGetLastError();
  if (probe != cudaSuccess) {
    int device = 0, major = 0, minor = 0;
    cudaGetDevice(&device);
    cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
    cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device);
    cudaGetLastError();
    if (probe == cudaErrorNoKernelImageForDevice || probe == cudaErrorInvalidDeviceFunction)
      return "device sm_" + std::to_string(major) + std::to_string(minor) +
             " has no machine code in this build (built for " LLAMASCOPE_CUDA_ARCHS ")";
    return std::string("CUDA unusable: ") + cudaGetErrorString(probe);
  }
  return cublas_unavailable_reason();
}

}  // namespace

std::string unavailable_reason() {
  static const std::string reason = find_reason();
  return reason;
}

const char* built_architectures() {
  return LLAMASCOPE_CUDA_ARCHS;
}

std::string device_description() {
  int device = 0, driver = 0, runtime = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  cudaDeviceProp prop{};
  CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  CUDA_CHECK(cudaDriverGetVersion(&driver));
  CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
  char memory[32];
  std::snprintf(memory, sizeof memory, "%.1f GiB", static_cast<double>(prop.totalGlobalMem) / (1u << 30));
  return std::string(prop.name) + " (sm_" + std::to_string(prop.major) + std::to_string(prop.minor) + ", " +
         std::to_string(prop.multiProcessorCount) + " SMs, " + memory + "), driver " +
         version_string(driver) + ", runtime " + version_string(runtime) +
         ", code for " LLAMASCOPE_CUDA_ARCHS;
}

void* device_alloc(size_t bytes) {
  void* p = nullptr;
  if (bytes == 0) bytes = 1;
  const cudaError_t err = cudaMalloc(&p, bytes);
  if (err != cudaSuccess) {
    cudaGetLastError();
    size_t free_bytes = 0, total = 0;
    cudaMemGetInfo(&free_bytes, &total);
    cudaGetLastError();
    throw Error("out of device memory: cannot allocate " + std::to_string(bytes >> 20) + " MiB (" +
                std::to_string(free_bytes >> 20) + " of " + std::to_string(total >> 20) + " MiB free)");
  }
  CUDA_CHECK(cudaMemset(p, 0, bytes));
  // cudaMemset runs on the legacy stream, which does not order against the backend's non-blocking
  // stream: wait for it here rather than let a first kernel race the zeroing.
  CUDA_CHECK(cudaDeviceSynchronize());
  return p;
}

void device_free(void* p) {
  if (p) cudaFree(p);  // from destructors: nothing useful to do with an error here
}

void* host_alloc_pinned(size_t bytes) {
  void* p = nullptr;
  CUDA_CHECK(cudaMallocHost(&p, bytes == 0 ? 1 : bytes));
  return p;
}

void host_free_pinned(void* p) {
  if (p) cudaFreeHost(p);
}

void copy_to_device(void* dst, size_t dst_pitch, const void* src, size_t src_pitch, size_t width, size_t rows,
                    cudaStream_t stream) {
  if (rows == 0 || width == 0) return;
  CUDA_CHECK(cudaMemcpy2DAsync(dst, dst_pitch, src, src_pitch, width, rows, cudaMemcpyHostToDevice, stream));
  CUDA_CHECK(cudaStreamSynchronize(stream));
}

void copy_to_host(void* dst, size_t dst_pitch, const void* src, size_t src_pitch, size_t width, size_t rows,
                  cudaStream_t stream) {
  if (rows == 0 || width == 0) return;
  CUDA_CHECK(cudaMemcpy2DAsync(dst, dst_pitch, src, src_pitch, width, rows, cudaMemcpyDeviceToHost, stream));
  CUDA_CHECK(cudaStreamSynchronize(stream));
}

void copy_pinned_to_device_async(void* dst, const void* src, size_t bytes, cudaStream_t stream) {
  if (bytes == 0) return;
  CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream));
}

cudaStream_t stream_create() {
  cudaStream_t s = nullptr;
  CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  return s;
}

void stream_destroy(cudaStream_t stream) {
  if (stream) cudaStreamDestroy(stream);
}

void stream_synchronize(cudaStream_t stream) {
  CUDA_CHECK(cudaStreamSynchronize(stream));
}

// ---- graphs ----

GraphRunner::~GraphRunner() {
  if (exec_) cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec_));
}

void GraphRunner::begin(cudaStream_t stream) {
  if (capturing_) throw Error("cuda: a graph capture is already under way");
  CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  capturing_ = true;
}

void GraphRunner::end_and_launch(cudaStream_t stream) {
  if (!capturing_) throw Error("cuda: no graph capture to end");
  capturing_ = false;
  cudaGraph_t graph = nullptr;
  CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
  auto exec = static_cast<cudaGraphExec_t>(exec_);
  if (exec) {
    // Same topology as last step (kernel arguments such as the position differ): update in place, which
    // costs far less than instantiating.
    cudaGraphExecUpdateResultInfo info{};
    if (cudaGraphExecUpdate(exec, graph, &info) == cudaSuccess) {
      ++updates_;
    } else {
      cudaGetLastError();
      cudaGraphExecDestroy(exec);
      exec = nullptr;
    }
  }
  if (!exec) {
    const cudaError_t err = cudaGraphInstantiate(&exec, graph, 0);
    if (err != cudaSuccess) {
      cudaGraphDestroy(graph);
      exec_ = nullptr;
      throw_cuda(err, "cudaGraphInstantiate", __FILE__, __LINE__);
    }
    ++instantiations_;
  }
  exec_ = exec;
  cudaGraphDestroy(graph);
  CUDA_CHECK(cudaGraphLaunch(exec, stream));
}

// ---- timers ----

EventTimer::EventTimer(cudaStream_t stream) : stream_(stream) {
  CUDA_CHECK(cudaEventCreate(&start_));
  CUDA_CHECK(cudaEventCreate(&stop_));
}

EventTimer::~EventTimer() {
  if (start_) cudaEventDestroy(start_);
  if (stop_) cudaEventDestroy(stop_);
}

void EventTimer::start() {
  CUDA_CHECK(cudaEventRecord(start_, stream_));
}

void EventTimer::stop() {
  CUDA_CHECK(cudaEventRecord(stop_, stream_));
}

uint64_t EventTimer::elapsed_ns() {
  CUDA_CHECK(cudaEventSynchronize(stop_));
  float ms = 0;
  CUDA_CHECK(cudaEventElapsedTime(&ms, start_, stop_));
  return static_cast<uint64_t>(static_cast<double>(ms) * 1e6);
}

}  // namespace llamascope::cuda

namespace llamascope::cuda {

bool stream_capturing(cudaStream_t stream) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  CUDA_CHECK(cudaStreamIsCapturing(stream, &status));
  return status != cudaStreamCaptureStatusNone;
}

HostStaging::HostStaging(cudaStream_t stream) : stream_(stream) {
  CUDA_CHECK(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming));
}

HostStaging::~HostStaging() {
  if (pending_) cudaEventSynchronize(done_);
  if (host_) cudaFreeHost(host_);
  if (done_) cudaEventDestroy(done_);
}

void* HostStaging::acquire(size_t bytes) {
  const bool capturing = stream_capturing(stream_);
  if (pending_ && !capturing) {
    CUDA_CHECK(cudaEventSynchronize(done_));
    pending_ = false;
  }
  if (bytes > bytes_) {
    if (capturing)
      throw Error("cuda: host staging must grow while a graph is being captured (run the step once first)");
    if (host_) CUDA_CHECK(cudaFreeHost(host_));
    host_ = nullptr;
    bytes_ = 0;
    const size_t want = std::max<size_t>(bytes, 4096);
    CUDA_CHECK(cudaMallocHost(&host_, want));
    bytes_ = want;
  }
  return host_;
}

void HostStaging::copy_to(void* device_dst, size_t bytes) {
  if (bytes == 0) return;
  CUDA_CHECK(cudaMemcpyAsync(device_dst, host_, bytes, cudaMemcpyHostToDevice, stream_));
  if (!stream_capturing(stream_)) {
    CUDA_CHECK(cudaEventRecord(done_, stream_));
    pending_ = true;
  }
}

}  // namespace llamascope::cuda
