// Causal GQA attention over the KV cache, split across the sequence (flash-decoding): each block takes one
// query row, one KV head with up to kMaxGroup of the query heads that share it (so a key is read once for
// all of them), and one span of keys, keeping an online softmax (running max, running sum, rescaled
// accumulators) over tiles of the span; a second kernel merges the spans' partial softmaxes. The number of
// spans is chosen so that one decode token fills the GPU; a prefill batch has enough blocks with one span.
// The cache holds float32 or half elements (one kernel per type; halves are widened exactly on load).
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_ops.h"

namespace llamascope::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr int kMaxGroup = 8;  // query heads per block
constexpr int kTile = 64;     // keys per softmax update
constexpr int kMinSpan = 128;

int sm_count() {
  static const int count = [] {
    int device = 0, n = 0;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device) != cudaSuccess)
      n = 0;
    cudaGetLastError();
    return n > 0 ? n : 108;
  }();
  return count;
}

struct Plan {
  int group = 0;      // query heads per KV head
  int per_block = 0;  // query heads per block
  int subgroups = 0;  // blocks per (row, KV head)
  int64_t span = 0;   // keys per split
  int splits = 0;
  size_t shared = 0;
};

Plan make_plan(int64_t n, int64_t pos0, int n_heads, int n_kv_heads, int head_dim) {
  Plan p;
  p.group = n_heads / n_kv_heads;
  p.per_block = std::min(p.group, kMaxGroup);
  p.subgroups = (p.group + p.per_block - 1) / p.per_block;
  const int64_t max_keys = pos0 + n;
  const int64_t base_blocks = n * n_kv_heads * p.subgroups;
  const int64_t wanted = std::max<int64_t>(1, (2 * sm_count() + base_blocks - 1) / base_blocks);
  const int64_t most = std::max<int64_t>(1, (max_keys + kMinSpan - 1) / kMinSpan);
  const int64_t splits = std::min(wanted, most);
  p.span = ((max_keys + splits - 1) / splits + kTile - 1) / kTile * kTile;
  p.splits = static_cast<int>((max_keys + p.span - 1) / p.span);
  p.shared =
      sizeof(float) * (2 * size_t(p.per_block) * head_dim + size_t(p.per_block) * kTile + 3 * p.per_block);
  return p;
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Grid: x = (row, KV head, subgroup), y = split. splits == 1 writes normalized outputs directly; else the
// unnormalized accumulators with their max and sum go to `partial` for the merge.
__device__ __forceinline__ float load_kv(const float* p) {
  return *p;
}
__device__ __forceinline__ float load_kv(const __half* p) {
  return __half2float(*p);
}

template <typename KV>
__global__ void __launch_bounds__(kThreads)
    attention_span_kernel(const float* __restrict__ q, int64_t q_stride, const KV* __restrict__ k,
                          int64_t k_stride, const KV* __restrict__ v, int64_t v_stride, int64_t pos0,
                          int n_heads, int n_kv_heads, int head_dim, int group, int per_block, int subgroups,
                          int64_t span, int splits, float* out, int64_t out_stride,
                          float* __restrict__ partial) {
  extern __shared__ float smem[];
  float* qs = smem;                        // per_block x head_dim, pre-scaled
  float* acc = qs + per_block * head_dim;  // per_block x head_dim
  float* p = acc + per_block * head_dim;   // per_block x kTile
  float* m = p + per_block * kTile;        // per_block
  float* l = m + per_block;                // per_block
  float* alpha = l + per_block;            // per_block

  const int64_t bx = blockIdx.x;
  const int sg = static_cast<int>(bx % subgroups);
  const int kvh = static_cast<int>((bx / subgroups) % n_kv_heads);
  const int64_t i = bx / (int64_t(subgroups) * n_kv_heads);
  const int split = blockIdx.y;
  const int h0 = kvh * group + sg * per_block;
  const int heads = min(per_block, group - sg * per_block);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;

  const float scale = rsqrtf(static_cast<float>(head_dim));
  for (int e = threadIdx.x; e < heads * head_dim; e += kThreads) {
    const int g = e / head_dim, d = e % head_dim;
    qs[e] = q[i * q_stride + int64_t(h0 + g) * head_dim + d] * scale;
    acc[e] = 0.0f;
  }
  if (threadIdx.x < heads) {
    m[threadIdx.x] = -INFINITY;
    l[threadIdx.x] = 0.0f;
  }
  __syncthreads();

  const int64_t n_keys = pos0 + i + 1;  // causal: row i sees cache rows [0, pos0 + i]
  const int64_t begin = int64_t(split) * span;
  const int64_t end = min(begin + span, n_keys);
  const int64_t kv_off = int64_t(kvh) * head_dim;
  for (int64_t t0 = begin; t0 < end; t0 += kTile) {
    const int tn = static_cast<int>(min(static_cast<int64_t>(kTile), end - t0));
    for (int tt = warp; tt < tn; tt += kWarps) {
      const KV* kr = k + (t0 + tt) * k_stride + kv_off;
      float dot[kMaxGroup];
#pragma unroll
      for (int g = 0; g < kMaxGroup; ++g) dot[g] = 0.0f;
      for (int d = lane; d < head_dim; d += 32) {
        const float kv = load_kv(kr + d);
#pragma unroll
        for (int g = 0; g < kMaxGroup; ++g)
          if (g < heads) dot[g] = fmaf(qs[g * head_dim + d], kv, dot[g]);
      }
#pragma unroll
      for (int g = 0; g < kMaxGroup; ++g) {
        if (g >= heads) break;
        const float s = warp_sum(dot[g]);
        if (lane == 0) p[g * kTile + tt] = s;
      }
    }
    __syncthreads();
    for (int g = warp; g < heads; g += kWarps) {
      float mx = -INFINITY;
      for (int tt = lane; tt < tn; tt += 32) mx = fmaxf(mx, p[g * kTile + tt]);
      mx = warp_max(mx);
      const float m_new = fmaxf(m[g], mx);
      float sum = 0.0f;
      for (int tt = lane; tt < tn; tt += 32) {
        const float e = expf(p[g * kTile + tt] - m_new);
        p[g * kTile + tt] = e;
        sum += e;
      }
      sum = warp_sum(sum);
      if (lane == 0) {
        const float a = expf(m[g] - m_new);
        alpha[g] = a;
        l[g] = l[g] * a + sum;
        m[g] = m_new;
      }
    }
    __syncthreads();
    for (int d = threadIdx.x; d < head_dim; d += kThreads) {
      float a[kMaxGroup];
#pragma unroll
      for (int g = 0; g < kMaxGroup; ++g)
        if (g < heads) a[g] = acc[g * head_dim + d] * alpha[g];
      for (int tt = 0; tt < tn; ++tt) {
        const float vv = load_kv(v + (t0 + tt) * v_stride + kv_off + d);
#pragma unroll
        for (int g = 0; g < kMaxGroup; ++g)
          if (g < heads) a[g] = fmaf(p[g * kTile + tt], vv, a[g]);
      }
#pragma unroll
      for (int g = 0; g < kMaxGroup; ++g)
        if (g < heads) acc[g * head_dim + d] = a[g];
    }
    __syncthreads();
  }

  for (int e = threadIdx.x; e < heads * head_dim; e += kThreads) {
    const int g = e / head_dim, d = e % head_dim;
    const int h = h0 + g;
    if (splits == 1) {
      out[i * out_stride + int64_t(h) * head_dim + d] = acc[e] / l[g];
    } else {
      const int64_t slot = (i * n_heads + h) * splits + split;
      partial[slot * (head_dim + 2) + 2 + d] = acc[e];
      if (d == 0) {
        partial[slot * (head_dim + 2)] = m[g];
        partial[slot * (head_dim + 2) + 1] = l[g];
      }
    }
  }
}

// One block per (row, head): merges the splits' partial softmaxes.
__global__ void __launch_bounds__(kThreads)
    attention_merge_kernel(const float* __restrict__ partial, int n_heads, int head_dim, int splits,
                           float* out, int64_t out_stride) {
  extern __shared__ float weight[];  // splits
  __shared__ float total;
  const int64_t i = blockIdx.x / n_heads;
  const int h = static_cast<int>(blockIdx.x % n_heads);
  const float* base = partial + (i * n_heads + h) * int64_t(splits) * (head_dim + 2);
  if (threadIdx.x == 0) {
    float mx = -INFINITY;
    for (int s = 0; s < splits; ++s) mx = fmaxf(mx, base[int64_t(s) * (head_dim + 2)]);
    float sum = 0.0f;
    for (int s = 0; s < splits; ++s) {
      const float ms = base[int64_t(s) * (head_dim + 2)];
      const float w = ms == -INFINITY ? 0.0f : expf(ms - mx);
      weight[s] = w;
      sum += w * base[int64_t(s) * (head_dim + 2) + 1];
    }
    total = sum;
  }
  __syncthreads();
  for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
    float o = 0.0f;
    for (int s = 0; s < splits; ++s) o = fmaf(weight[s], base[int64_t(s) * (head_dim + 2) + 2 + d], o);
    out[i * out_stride + int64_t(h) * head_dim + d] = o / total;
  }
}

}  // namespace

size_t attention_scratch_bytes(int64_t n, int64_t pos0, int n_heads, int n_kv_heads, int head_dim) {
  const Plan p = make_plan(n, pos0, n_heads, n_kv_heads, head_dim);
  if (p.splits <= 1) return 0;
  return sizeof(float) * static_cast<size_t>(n) * n_heads * p.splits * (head_dim + 2);
}

void attention(DMat q, const DKv& cache, int64_t pos0, int n_heads, int n_kv_heads, int head_dim, DMat out,
               void* scratch, cudaStream_t stream) {
  const int64_t n = q.rows;
  if (n == 0) return;
  if (n_kv_heads <= 0 || n_heads % n_kv_heads != 0)
    throw Error("cuda attention: " + std::to_string(n_heads) + " heads are not a multiple of " +
                std::to_string(n_kv_heads) + " KV heads");
  const Plan p = make_plan(n, pos0, n_heads, n_kv_heads, head_dim);
  if (p.shared > 48 * 1024)
    throw Error("cuda attention: head_dim " + std::to_string(head_dim) +
                " needs more shared memory than 48 KiB");
  if (p.splits > 1 && !scratch) throw Error("cuda attention: split attention needs scratch");
  const dim3 grid(static_cast<unsigned>(n * n_kv_heads * p.subgroups), static_cast<unsigned>(p.splits));
  auto launch = [&](auto* k, auto* v) {
    attention_span_kernel<<<grid, kThreads, p.shared, stream>>>(
        q.data, q.stride, k, cache.k_stride, v, cache.v_stride, pos0, n_heads, n_kv_heads, head_dim, p.group,
        p.per_block, p.subgroups, p.span, p.splits, out.data, out.stride, static_cast<float*>(scratch));
  };
  if (cache.half)
    launch(static_cast<const __half*>(cache.k), static_cast<const __half*>(cache.v));
  else
    launch(static_cast<const float*>(cache.k), static_cast<const float*>(cache.v));
  CUDA_CHECK_LAUNCH();
  if (p.splits > 1) {
    attention_merge_kernel<<<static_cast<unsigned>(n * n_heads), kThreads, sizeof(float) * p.splits,
                             stream>>>(static_cast<const float*>(scratch), n_heads, head_dim, p.splits,
                                       out.data, out.stride);
    CUDA_CHECK_LAUNCH();
  }
}

}  // namespace llamascope::cuda
