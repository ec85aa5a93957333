// Matrix products of the CUDA backend. Decode (a few activation rows): one warp per weight row, each lane
// dequantizing 32-element chunks in registers and multiplying them with every activation row, so each
// weight byte is read once per call. Prefill (many rows): cuBLAS on tensor cores, with F16/BF16 weights used
// as stored and quantized weights dequantized to F16 tiles first; F32 weights take FP32 SGEMM (no TF32), so
// an F32 model keeps float32 numerics. docs/cuda.md says why and what was measured.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <string>

#include "kernels/cuda/cublas_loader.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/dequant.cuh"
#include "kernels/cuda/dispatch.cuh"

namespace llamascope::cuda {
namespace {

constexpr int kWarp = 32;
constexpr int kMatvecWarps = 4;  // rows per block

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// out[i][row] = sum over chunks of dequant(W[row], chunk) . x[i][chunk], i < n <= N.
template <TensorType T, int N>
__global__ void __launch_bounds__(kWarp* kMatvecWarps)
    matvec_kernel(const uint8_t* __restrict__ w, size_t row_bytes, bool vector_loads, int64_t rows,
                  int64_t cols, const float* __restrict__ x, int64_t x_stride, int n, bool x_aligned,
                  float* __restrict__ out, int64_t out_stride) {
  const int lane = threadIdx.x % kWarp;
  const int64_t row = int64_t(blockIdx.x) * kMatvecWarps + threadIdx.x / kWarp;
  if (row >= rows) return;
  const uint8_t* wrow = w + row * row_bytes;
  float acc[N];
#pragma unroll
  for (int i = 0; i < N; ++i) acc[i] = 0.0f;
  const int64_t chunks = cols / 32;
  for (int64_t c = lane; c < chunks; c += kWarp) {
    float y[32];
    dequant_row_chunk<T>(wrow, c, vector_loads, y);
#pragma unroll
    for (int i = 0; i < N; ++i) {
      if (i >= n) break;
      const float* xc = x + i * x_stride + c * 32;
      float s = 0.0f;
      if (x_aligned) {
        const float4* x4 = reinterpret_cast<const float4*>(xc);
#pragma unroll
        for (int j = 0; j < 8; ++j) {
          const float4 v = __ldg(x4 + j);
          s = fmaf(y[4 * j], v.x, s);
          s = fmaf(y[4 * j + 1], v.y, s);
          s = fmaf(y[4 * j + 2], v.z, s);
          s = fmaf(y[4 * j + 3], v.w, s);
        }
      } else {
#pragma unroll
        for (int j = 0; j < 32; ++j) s = fmaf(y[j], __ldg(xc + j), s);
      }
      acc[i] += s;
    }
  }
  if constexpr (kFloatType<T>) {  // the last cols % 32 elements of a float-type row, one per lane
    for (int64_t e = chunks * 32 + lane; e < cols; e += kWarp) {
      const float we = row_element<T>(wrow, e);
#pragma unroll
      for (int i = 0; i < N; ++i)
        if (i < n) acc[i] = fmaf(we, __ldg(x + i * x_stride + e), acc[i]);
    }
  }
#pragma unroll
  for (int i = 0; i < N; ++i) {
    if (i >= n) break;
    const float total = warp_sum(acc[i]);
    if (lane == 0) out[i * out_stride + row] = total;
  }
}

// Rows [0, rows) of W dequantized to packed F16 (rows x chunks*32), one thread per chunk.
template <TensorType T>
__global__ void dequant_f16_kernel(const uint8_t* __restrict__ w, size_t row_bytes, int64_t rows,
                                   int64_t chunks, __half* __restrict__ out) {
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= rows * chunks) return;
  const int64_t row = idx / chunks, c = idx % chunks;
  float y[32];
  dequant_chunk<T>(chunk_block<T>(w + row * row_bytes, c),
                   static_cast<int>(c % ChunkGeometry<T>::kChunksPerBlock), y);
  uint4* dst = reinterpret_cast<uint4*>(out + row * chunks * 32 + c * 32);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    uint32_t packed[4];
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const __half2 h = __floats2half2_rn(y[8 * i + 2 * j], y[8 * i + 2 * j + 1]);
      packed[j] = *reinterpret_cast<const uint32_t*>(&h);
    }
    dst[i] = make_uint4(packed[0], packed[1], packed[2], packed[3]);
  }
}

// Activations rounded to the GEMM's 16-bit input type, packed n x cols.
template <class H>
__global__ void convert_kernel(const float* __restrict__ x, int64_t stride, int64_t rows, int64_t cols,
                               H* __restrict__ out) {
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= rows * cols) return;
  const int64_t r = idx / cols, c = idx % cols;
  if constexpr (std::is_same_v<H, __half>)
    out[idx] = __float2half_rn(x[r * stride + c]);
  else
    out[idx] = __float2bfloat16_rn(x[r * stride + c]);
}

unsigned blocks_for(int64_t items, int threads) {
  return static_cast<unsigned>((items + threads - 1) / threads);
}

template <TensorType T>
void launch_matvec(const DWeight& w, DMat x, DMat out, cudaStream_t stream) {
  const bool aligned = reinterpret_cast<uintptr_t>(x.data) % 16 == 0 && x.stride % 4 == 0;
  const bool vector_loads = rows_allow_vector_loads(w.data, w.row_bytes);
  const dim3 grid(blocks_for(w.rows, kMatvecWarps)), block(kWarp * kMatvecWarps);
  const auto* wp = static_cast<const uint8_t*>(w.data);
  const int n = static_cast<int>(x.rows);
  if (n == 1)
    matvec_kernel<T, 1><<<grid, block, 0, stream>>>(wp, w.row_bytes, vector_loads, w.rows, w.cols, x.data,
                                                    x.stride, n, aligned, out.data, out.stride);
  else if (n == 2)
    matvec_kernel<T, 2><<<grid, block, 0, stream>>>(wp, w.row_bytes, vector_loads, w.rows, w.cols, x.data,
                                                    x.stride, n, aligned, out.data, out.stride);
  else if (n <= 4)
    matvec_kernel<T, 4><<<grid, block, 0, stream>>>(wp, w.row_bytes, vector_loads, w.rows, w.cols, x.data,
                                                    x.stride, n, aligned, out.data, out.stride);
  else
    matvec_kernel<T, kMatvecMaxRows><<<grid, block, 0, stream>>>(
        wp, w.row_bytes, vector_loads, w.rows, w.cols, x.data, x.stride, n, aligned, out.data, out.stride);
  CUDA_CHECK_LAUNCH();
}

// Rows of one dequantized tile: at most this many F16 bytes (a 128k x 4096 output matrix is 1 GiB as F16).
constexpr size_t kTileBytes = size_t{256} << 20;

int64_t tile_rows(const DWeight& w) {
  const int64_t per_row = w.cols * 2;
  return std::max<int64_t>(64, std::min<int64_t>(w.rows, static_cast<int64_t>(kTileBytes / per_row)));
}

size_t align256(size_t bytes) {
  return (bytes + 255) / 256 * 256;
}

// Scratch bytes of the GEMM path: converted activations, then (quantized weights) one dequantized tile.
size_t gemm_scratch_bytes(const DWeight& w, int64_t n) {
  if (w.type == TensorType::F32) return 0;
  size_t bytes = align256(static_cast<size_t>(n * w.cols) * 2);
  if (w.type != TensorType::F16 && w.type != TensorType::BF16)
    bytes += align256(static_cast<size_t>(tile_rows(w) * w.cols) * 2);
  return bytes;
}

constexpr size_t kCublasWorkspaceBytes = size_t{32} << 20;

}  // namespace

bool weight_type_supported(TensorType type) {
  switch (type) {
    case TensorType::Q8_1:
    case TensorType::Q8_K:
      return false;
    default:
      return true;
  }
}

void matvec(const DWeight& w, DMat x, DMat out, cudaStream_t stream) {
  if (x.rows < 1 || x.rows > kMatvecMaxRows)
    throw Error("cuda: matvec takes 1.." + std::to_string(kMatvecMaxRows) + " rows");
  with_weight_type(w.type, [&](auto t) {
    constexpr TensorType T = decltype(t)::value;
    launch_matvec<T>(w, x, out, stream);
  });
}

Gemm::Gemm(cudaStream_t stream) : stream_(stream) {
  cublasHandle_t h = nullptr;
  CUBLAS_CHECK(cublas().create(&h));
  handle_ = h;
  CUBLAS_CHECK(cublas().set_stream(h, stream));
  // FP32 products stay FP32 (no TF32 rounding of an F32 model's weights).
  CUBLAS_CHECK(cublas().set_math_mode(h, CUBLAS_DEFAULT_MATH));
  // A workspace of our own: cuBLAS then allocates nothing while a stream is captured into a graph.
  CUDA_CHECK(cudaMalloc(&workspace_, kCublasWorkspaceBytes));
  CUBLAS_CHECK(cublas().set_workspace(h, workspace_, kCublasWorkspaceBytes));
}

Gemm::~Gemm() {
  if (handle_) cublas().destroy(static_cast<cublasHandle_t>(handle_));
  if (workspace_) cudaFree(workspace_);
  if (scratch_) cudaFree(scratch_);
}

void* Gemm::scratch(size_t bytes) {
  if (bytes > scratch_bytes_) {
    cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
    CUDA_CHECK(cudaStreamIsCapturing(stream_, &status));
    if (status != cudaStreamCaptureStatusNone)
      throw Error("cuda: GEMM scratch must grow while a graph is being captured (run the step once first)");
    if (scratch_) {
      CUDA_CHECK(cudaStreamSynchronize(stream_));  // earlier products may still read the old scratch
      CUDA_CHECK(cudaFree(scratch_));
      scratch_ = nullptr;
      scratch_bytes_ = 0;
    }
    CUDA_CHECK(cudaMalloc(&scratch_, bytes));
    scratch_bytes_ = bytes;
  }
  return scratch_;
}

void Gemm::reserve(const DWeight& w, int64_t n) {
  if (n > kMatvecMaxRows) scratch(gemm_scratch_bytes(w, n));
}

void Gemm::matmul(const DWeight& w, DMat x, DMat out) {
  if (x.rows <= kMatvecMaxRows) return matvec(w, x, out, stream_);
  auto* h = static_cast<cublasHandle_t>(handle_);
  const int n = static_cast<int>(x.rows), k = static_cast<int>(w.cols);
  const float alpha = 1.0f, beta = 0.0f;
  // Column-major view: W (rows x cols, row-major) is a cols x rows matrix with ld = cols, used transposed;
  // x (n x cols, row-major) is cols x n with ld = stride; out is rows x n with ld = out.stride.
  if (w.type == TensorType::F32) {
    CUBLAS_CHECK(cublas().sgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(w.rows), n, k, &alpha,
                                static_cast<const float*>(w.data), static_cast<int>(w.row_bytes / 4), x.data,
                                static_cast<int>(x.stride), &beta, out.data, static_cast<int>(out.stride)));
    return;
  }
  auto* base = static_cast<uint8_t*>(scratch(gemm_scratch_bytes(w, x.rows)));
  const bool bf16 = w.type == TensorType::BF16;
  const cudaDataType_t act_type = bf16 ? CUDA_R_16BF : CUDA_R_16F;
  const int64_t items = x.rows * x.cols;
  if (bf16)
    convert_kernel<__nv_bfloat16><<<blocks_for(items, 256), 256, 0, stream_>>>(
        x.data, x.stride, x.rows, x.cols, reinterpret_cast<__nv_bfloat16*>(base));
  else
    convert_kernel<__half><<<blocks_for(items, 256), 256, 0, stream_>>>(x.data, x.stride, x.rows, x.cols,
                                                                        reinterpret_cast<__half*>(base));
  CUDA_CHECK_LAUNCH();
  if (w.type == TensorType::F16 || bf16) {
    CUBLAS_CHECK(cublas().gemm_ex(h, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(w.rows), n, k, &alpha, w.data,
                                  act_type, static_cast<int>(w.row_bytes / 2), base, act_type, k, &beta,
                                  out.data, CUDA_R_32F, static_cast<int>(out.stride), CUBLAS_COMPUTE_32F,
                                  CUBLAS_GEMM_DEFAULT));
    return;
  }
  auto* tile = reinterpret_cast<__half*>(base + align256(static_cast<size_t>(items) * 2));
  const int64_t chunks = w.cols / 32, step = tile_rows(w);
  for (int64_t r0 = 0; r0 < w.rows; r0 += step) {
    const int64_t rows = std::min(step, w.rows - r0);
    const auto* src = static_cast<const uint8_t*>(w.data) + r0 * w.row_bytes;
    with_weight_type(w.type, [&](auto t) {
      constexpr TensorType T = decltype(t)::value;
      dequant_f16_kernel<T>
          <<<blocks_for(rows * chunks, 128), 128, 0, stream_>>>(src, w.row_bytes, rows, chunks, tile);
    });
    CUDA_CHECK_LAUNCH();
    CUBLAS_CHECK(cublas().gemm_ex(h, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(rows), n, k, &alpha, tile,
                                  CUDA_R_16F, k, base, CUDA_R_16F, k, &beta, out.data + r0, CUDA_R_32F,
                                  static_cast<int>(out.stride), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  }
}

}  // namespace llamascope::cuda
