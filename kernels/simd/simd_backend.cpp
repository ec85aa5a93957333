// The SIMD backend: threading, activation quantization and the loops over rows, calling the per-ISA
// kernels of simd_kernels.h. Compiled for baseline x86-64; only the kernel tables use wider instructions.
#include "kernels/simd/simd_backend.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/huge_buffer.h"
#include "kernels/quant.h"
#include "kernels/simd/interleaved.h"
#include "kernels/simd/simd_kernels.h"
#include "kernels/thread_pool.h"

namespace llamascope {
namespace {

using simd::ActBlock32;
using simd::ActivationFormat;
using simd::SimdKernels;
using simd::TypeKernel;

// Weight rows a matmul task walks together: for n > 1 the tile's rows (16 Q4_0 rows of 2048 = 18 KiB)
// stay in L1 while every activation row passes over them. Thread chunks are multiples of it.
constexpr int64_t kRowTile = 16;
// Below this many multiply-adds (or element operations) an op runs on the calling thread: on a busy machine
// a descheduled worker can hold a run up for a time slice, which a small op cannot win back.
constexpr int64_t kParallelWork = int64_t(1) << 17;

const SimdKernels& kernels_of(SimdIsa isa) {
  switch (isa) {
    case SimdIsa::avx512:
      return simd::avx512_kernels();
    case SimdIsa::avx2:
      return simd::avx2_kernels();
    case SimdIsa::portable:
      break;
  }
  return simd::portable_kernels();
}

int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

// The kernel over one interleaved group of 16 rows (interleaved.h).
using GroupKernel = decltype(&simd::interleaved_matmul_group_avx512);
// Activation formats other than f32, which a matmul converts x into (once each per call).
constexpr size_t kConvertedFormats = 3;
// A weight interleaved 16 rows at a time for the group kernels.
struct Packed {
  size_t group_bytes = 0;
  HugeBuffer bytes;                   // null: not interleaved; the row kernels read the file
  TensorType type = TensorType::F32;  // of the copy: the weight's, or F16 / BF16 for exact F32 weights
  GroupKernel kernel = nullptr;
  int rows_per_call = simd::kGroupRows;                 // rows one kernel call covers (group_kernel_for)
  ActivationFormat activation = ActivationFormat::f32;  // what the kernel reads
};
// What prepare() returns: the file's view, and the interleaved copy where the ISA has a kernel for the type.
struct SimdWeight final : PreparedWeight {
  using PreparedWeight::PreparedWeight;
  Packed packed;
};

class SimdBackend final : public Backend {
 public:
  SimdBackend(const BackendOptions& options, SimdIsa isa)
      : isa_(isa),
        bf16_dot_(simd_bf16_dot(isa)),
        gfni_(simd_gfni(isa)),
        keep_f32_(std::getenv("LLAMASCOPE_SIMD_KEEP_F32") != nullptr),
        kernels_(kernels_of(isa)),
        pool_(shared_thread_pool(std::max(1, options.threads))) {}

  std::string name() const override { return "simd"; }
  bool supports(OpKind, TensorType type) const override {
    return type != TensorType::Q8_1 && type != TensorType::Q8_K;
  }
  std::string description() const override {
    return std::string("isa ") + kernels_.isa + (bf16_dot_ ? " (BF16 weights: AVX512-BF16 dot)" : "") +
           (gfni_ ? " (Q5_K fifth bits: GFNI)" : "") + f32_description() + ", " +
           std::to_string(pool_->threads()) + " thread" + (pool_->threads() == 1 ? "" : "s");
  }
  void rest() override { pool_->rest(); }

  Buffer alloc(int64_t rows, int64_t cols) override { return host_buffer(rows, cols); }
  void upload(Mat dst, const float* src) override {
    for (int64_t r = 0; r < dst.rows; ++r)
      std::memcpy(dst.data + r * dst.stride, src + r * dst.cols, sizeof(float) * dst.cols);
  }
  void download(Mat src, float* dst) override {
    for (int64_t r = 0; r < src.rows; ++r)
      std::memcpy(dst + r * src.cols, src.data + r * src.stride, sizeof(float) * src.cols);
  }

  void embed(const PreparedWeight& handle, std::span<const int32_t> tokens, Mat out) override {
    const Weight& table = handle.host;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (tokens[i] < 0 || tokens[i] >= table.rows)
        throw Error(table.name + ": token " + std::to_string(tokens[i]) + " outside the vocabulary");
      float* dst = out.data + int64_t(i) * out.stride;
      if (table.type == TensorType::F32)
        std::memcpy(dst, table.row(tokens[i]), sizeof(float) * table.cols);
      else
        dequantize_row(table.type, table.row(tokens[i]), dst, table.cols);
    }
  }

  void rmsnorm(Mat x, const PreparedWeight& gain, float eps, Mat out) override {
    const float* g = float_weight(gain.host, gain_buffer_);
    for_rows(x.rows, x.cols, [&](int64_t r) {
      const float* in = x.data + r * x.stride;
      const float mean_square = kernels_.sum_squares(in, x.cols) / static_cast<float>(x.cols);
      const float scale = 1.0f / std::sqrt(mean_square + eps);
      kernels_.scale_mul(in, scale, g, out.data + r * out.stride, x.cols);
    });
  }

  // Matmul weights of the types group_kernel_for() has a kernel for are repacked 16 rows at a time
  // (interleaved.h), F32 weights in 16 bits where every value is exact there. The copy belongs to the handle.
  WeightHandle prepare(const Weight& w, OpKind use) override {
    auto handle = std::make_shared<SimdWeight>(w, this);
    if (use != OpKind::matmul || w.rows <= 0) return handle;
    const TensorType packed_type = packed_type_of(w);
    const GroupKernelChoice choice = packed_type == w.type ? group_kernel_for(w.type) : float_kernel();
    if (!choice.kernel) return handle;
    const size_t group_bytes = simd::interleaved_group_bytes(packed_type, w.cols);
    if (group_bytes == 0) return handle;
    Packed& packed = handle->packed;
    packed.type = packed_type;
    packed.group_bytes = group_bytes;
    packed.kernel = choice.kernel;
    packed.rows_per_call = choice.rows_per_call;
    packed.activation = choice.activation;
    const int64_t groups = ceil_div(w.rows, simd::kGroupRows);
    packed.bytes = allocate_huge_buffer(group_bytes * static_cast<size_t>(groups));
    pool_->run(groups, [&](int64_t g) {
      const int64_t first = g * simd::kGroupRows;
      const int rows = static_cast<int>(std::min<int64_t>(simd::kGroupRows, w.rows - first));
      uint8_t* dst = packed.bytes.get() + g * group_bytes;
      if (packed_type == w.type)
        simd::pack_interleaved_group(w.type, w.row(first), w.row_bytes, rows, w.cols, dst);
      else
        simd::pack_interleaved_group_from_f32(packed_type, w.row(first), w.row_bytes, rows, w.cols, dst);
    });
    handle->bytes = group_bytes * static_cast<size_t>(groups);
    return handle;
  }

  void matmul(const PreparedWeight& w, Mat x, Mat out) override {
    const PreparedWeight* const weights[] = {&w};
    matmuls(weights, x, {&out, 1});
  }

  // One job over the rows of every weight: x is converted once per activation format the weights need,
  // and the tasks (whole row tiles) of all weights are spread over the pool together.
  void matmuls(std::span<const PreparedWeight* const> weights, Mat x, std::span<const Mat> outs) override {
    const int64_t n = x.rows;
    std::array<bool, kConvertedFormats> converted{};  // x already converted into converted_[...] by this call
    std::vector<MatmulPart>& parts = parts_;
    parts.clear();
    int64_t total_rows = 0;
    for (size_t i = 0; i < weights.size(); ++i) {
      const Weight& w = weights[i]->host;
      MatmulPart part{&w, outs[i], kernels_.kernel_for(w.type), packed_of(*weights[i]), nullptr, 0};
      const ActivationFormat format = part.packed       ? part.packed->activation
                                      : part.kernel.dot ? part.kernel.activation
                                                        : ActivationFormat::f32;
      std::tie(part.act, part.act_stride) = activations_for(format, x, converted);
      parts.push_back(part);
      total_rows += w.rows;
    }

    // Tasks: row ranges of whole row tiles (so whole interleaved groups), claimed in order. Each takes
    // 1 / (2 threads) of the job's rows still unassigned, down to one tile: the large first tasks keep each
    // thread streaming long runs, the small last ones let the threads finish together (docs/kernels.md,
    // Matmul, has the trace that showed equal tasks leaving a thread idle).
    std::vector<MatmulTask>& tasks = tasks_;
    tasks.clear();
    const int threads = pool_->threads();
    const bool parallel = threads > 1 && total_rows * x.cols * n >= kParallelWork;
    int64_t unassigned = total_rows;
    for (size_t p = 0; p < parts.size(); ++p)
      for (int64_t row = 0, rows = parts[p].w->rows; row < rows;) {
        int64_t size = rows - row;
        if (parallel) size = std::min(size, ceil_div(ceil_div(unassigned, 2 * threads), kRowTile) * kRowTile);
        tasks.push_back({p, row, row + size});
        row += size, unassigned -= size;
      }

    pool_->run(static_cast<int64_t>(tasks.size()), [&](int64_t t) {
      const MatmulTask& task = tasks[static_cast<size_t>(t)];
      const MatmulPart& part = parts[task.part];
      run_rows(*part.w, part.out, x, part.kernel, part.packed, part.act, part.act_stride, task.first,
               task.last);
    });
  }

  void rope(Mat q, Mat k, int64_t pos0, const RopeParams& p) override {
    const int pairs = p.rot_dims / 2;
    update_inverse_frequencies(p);
    const int64_t n = std::max(q.rows, k.rows);
    for_rows(n, int64_t(p.n_heads + p.n_kv_heads) * p.head_dim, [&](int64_t i) {
      thread_local std::vector<float> cos_sin;
      cos_sin.resize(2 * static_cast<size_t>(pairs));
      const double pos = static_cast<double>(pos0 + i);
      for (int j = 0; j < pairs; ++j) {
        const double theta = pos * inverse_frequencies_[j];
        cos_sin[2 * j] = static_cast<float>(std::cos(theta));
        cos_sin[2 * j + 1] = static_cast<float>(std::sin(theta));
      }
      if (i < q.rows) rotate_row(q.data + i * q.stride, p.n_heads, p, cos_sin.data());
      if (i < k.rows) rotate_row(k.data + i * k.stride, p.n_kv_heads, p, cos_sin.data());
    });
  }

  void kv_write(KvCache& cache, Mat k, Mat v, int64_t pos0) override { host_kv_write(cache, k, v, pos0); }

  void attention(Mat q, const KvCache& cache, int64_t pos0, const AttentionShape& shape, Mat out) override {
    const bool half = cache.type == TensorType::F16;
    const int group = shape.n_heads / shape.n_kv_heads;
    const int head_dim = shape.head_dim;
    const float scale = static_cast<float>(1.0 / std::sqrt(double(head_dim)));
    const int64_t n_tasks = q.rows * shape.n_heads;
    const int64_t work = q.rows * shape.n_heads * (pos0 + q.rows) * head_dim;
    auto task = [&](int64_t t) {
      const int64_t i = t / shape.n_heads;
      const int h = static_cast<int>(t % shape.n_heads);
      const int64_t n_keys = pos0 + i + 1;  // causal: cache rows [0, pos0 + i]
      const int64_t kv_offset = int64_t(h / group) * head_dim;
      const float* qh = q.data + i * q.stride + int64_t(h) * head_dim;
      thread_local std::vector<float> scores;
      scores.resize(static_cast<size_t>(n_keys));
      float* oh = out.data + i * out.stride + int64_t(h) * head_dim;
      // The head's keys and values as F32 rows: the cache itself, or an F16 cache's rows widened here.
      Mat k_cache = cache.k, v_cache = cache.v;
      int64_t kv_offset_in = kv_offset;
      thread_local std::vector<float> widened;
      if (half) {
        widened.resize(2 * static_cast<size_t>(n_keys * head_dim));
        for (int64_t key = 0; key < n_keys; ++key) {
          const auto* kr =
              reinterpret_cast<const uint16_t*>(cache.k.data) + key * 2 * cache.k.stride + kv_offset;
          const auto* vr =
              reinterpret_cast<const uint16_t*>(cache.v.data) + key * 2 * cache.v.stride + kv_offset;
          for (int d = 0; d < head_dim; ++d) {
            widened[key * head_dim + d] = fp16_to_fp32(kr[d]);
            widened[(n_keys + key) * head_dim + d] = fp16_to_fp32(vr[d]);
          }
        }
        k_cache = Mat{widened.data(), n_keys, head_dim, head_dim};
        v_cache = Mat{widened.data() + n_keys * head_dim, n_keys, head_dim, head_dim};
        kv_offset_in = 0;
      }
      if (kernels_.attend_head) {
        kernels_.attend_head(qh, k_cache.data + kv_offset_in, k_cache.stride, v_cache.data + kv_offset_in,
                             v_cache.stride, n_keys, head_dim, scale, scores.data(), oh);
        return;
      }
      for (int64_t key = 0; key < n_keys; ++key)
        scores[key] =
            kernels_.dot_f32(qh, k_cache.data + key * k_cache.stride + kv_offset_in, head_dim) * scale;
      const float total = kernels_.exp_shifted(scores.data(), kernels_.max(scores.data(), n_keys), n_keys);
      std::fill(oh, oh + head_dim, 0.0f);
      for (int64_t key = 0; key < n_keys; ++key)
        kernels_.axpy(scores[key], v_cache.data + key * v_cache.stride + kv_offset_in, oh, head_dim);
      kernels_.scale(1.0f / total, oh, head_dim);
    };
    if (work < kParallelWork) {
      for (int64_t t = 0; t < n_tasks; ++t) task(t);
    } else {
      pool_->run(n_tasks, task);
    }
  }

  void swiglu(Mat gate, Mat up, Mat out) override {
    for_rows(gate.rows, gate.cols, [&](int64_t r) {
      kernels_.swiglu(gate.data + r * gate.stride, up.data + r * up.stride, out.data + r * out.stride,
                      gate.cols);
    });
  }

  void add(Mat acc, Mat x) override {
    for_rows(acc.rows, acc.cols,
             [&](int64_t r) { kernels_.add(acc.data + r * acc.stride, x.data + r * x.stride, acc.cols); });
  }

 private:
  // fn(row) for every row, on the pool when the op is big enough to pay for it.
  template <typename Fn>
  void for_rows(int64_t rows, int64_t cols, Fn&& fn) {
    if (pool_->threads() == 1 || rows < 2 || rows * cols < kParallelWork) {
      for (int64_t r = 0; r < rows; ++r) fn(r);
    } else {
      pool_->run(rows, fn);
    }
  }

  // The weight as host floats: F32 data directly, anything else dequantized into `buffer`.
  static const float* float_weight(const Weight& w, std::vector<float>& buffer) {
    if (w.type == TensorType::F32) return static_cast<const float*>(w.data);
    buffer.resize(static_cast<size_t>(w.cols));
    dequantize_row(w.type, w.data, buffer.data(), w.cols);
    return buffer.data();
  }

  // theta_j = pos * base^(-2j/rot_dims) / factor_j: the per-pair factor is recomputed only when the
  // parameters change (once per model in practice); compared by value, never by address.
  void update_inverse_frequencies(const RopeParams& p) {
    const float* factors = p.freq_factors ? static_cast<const float*>(p.freq_factors->host.data) : nullptr;
    const size_t pairs = static_cast<size_t>(p.rot_dims / 2);
    const bool same_factors = factors ? cached_factors_.size() == pairs &&
                                            std::equal(factors, factors + pairs, cached_factors_.begin())
                                      : cached_factors_.empty();
    if (p.rot_dims == cached_rot_dims_ && p.freq_base == cached_base_ && same_factors) return;
    inverse_frequencies_.resize(pairs);
    for (int j = 0; j < p.rot_dims / 2; ++j) {
      double f = std::pow(double(p.freq_base), -double(2 * j) / p.rot_dims);
      if (factors) f /= factors[j];
      inverse_frequencies_[j] = f;
    }
    cached_rot_dims_ = p.rot_dims, cached_base_ = p.freq_base;
    cached_factors_.assign(factors, factors ? factors + pairs : factors);
  }

  static void rotate_row(float* row, int n_heads, const RopeParams& p, const float* cos_sin) {
    for (int h = 0; h < n_heads; ++h) {
      float* head = row + int64_t(h) * p.head_dim;
      for (int j = 0; j < p.rot_dims / 2; ++j) {
        const float c = cos_sin[2 * j], s = cos_sin[2 * j + 1];
        const float a = head[2 * j], b = head[2 * j + 1];
        head[2 * j] = a * c - b * s;
        head[2 * j + 1] = a * s + b * c;
      }
    }
  }

  // The interleaved copy of a weight this backend prepared; null for any other handle (the row kernels).
  const Packed* packed_of(const PreparedWeight& w) const {
    if (w.owner != this) return nullptr;
    const Packed& p = static_cast<const SimdWeight&>(w).packed;
    return p.bytes ? &p : nullptr;
  }

  // The activations a kernel reads: x itself, or x converted into the buffer of the kernel's format, unless
  // `converted` says this call already did. Returns the rows and their stride in bytes.
  std::pair<const uint8_t*, size_t> activations_for(ActivationFormat format, Mat x,
                                                    std::array<bool, kConvertedFormats>& converted) {
    const int64_t n = x.rows, cols = x.cols;
    if (format == ActivationFormat::f32)
      return {reinterpret_cast<const uint8_t*>(x.data), sizeof(float) * x.stride};
    const size_t stride =
        format == ActivationFormat::q8_32  ? sizeof(ActBlock32) * static_cast<size_t>(cols / kBlock32)
        : format == ActivationFormat::q8_k ? sizeof(BlockQ8_K) * static_cast<size_t>(cols / kBlockK)
                                           : sizeof(uint16_t) * static_cast<size_t>(cols);
    const size_t index = static_cast<size_t>(format) - 1;
    std::vector<uint8_t>& bytes = converted_[index];
    if (!converted[index]) {
      converted[index] = true;
      bytes.resize(stride * static_cast<size_t>(n));
      uint8_t* base = bytes.data();
      for_rows(n, cols, [&](int64_t i) {
        const float* row = x.data + i * x.stride;
        uint8_t* dst = base + i * stride;
        if (format == ActivationFormat::q8_32)
          kernels_.quantize_q8_32(row, reinterpret_cast<ActBlock32*>(dst), cols);
        else if (format == ActivationFormat::q8_k)
          kernels_.quantize_q8_k(row, reinterpret_cast<BlockQ8_K*>(dst), cols);
        else
          simd::round_to_bf16_pairs(row, cols, reinterpret_cast<uint32_t*>(dst));
      });
    }
    return {bytes.data(), stride};
  }

  // Output rows [first, last) of out = x · wᵀ: one task of a matmuls() job.
  void run_rows(const Weight& w, Mat out, Mat x, const TypeKernel& kernel, const Packed* packed,
                const uint8_t* act, size_t activation_stride, int64_t first, int64_t last) {
    const int64_t n = x.rows, cols = w.cols;
    if (packed) {
      static_assert(kRowTile % simd::kGroupRows == 0);
      for (int64_t row = first; row < last; row += packed->rows_per_call)
        packed->kernel(packed->type, packed->bytes.get() + row / simd::kGroupRows * packed->group_bytes, cols,
                       act, activation_stride, n, out.data + row, out.stride,
                       static_cast<int>(std::min<int64_t>(packed->rows_per_call, last - row)));
      return;
    }
    if (kernel.dot) {
      for (int64_t tile = first; tile < last; tile += kRowTile) {
        const int64_t tile_end = std::min(last, tile + kRowTile);
        int64_t i = 0;
        if (kernel.dot4) {
          for (; i + 4 <= n; i += 4) {
            const void* xs[4] = {act + i * activation_stride, act + (i + 1) * activation_stride,
                                 act + (i + 2) * activation_stride, act + (i + 3) * activation_stride};
            for (int64_t r = tile; r < tile_end; ++r) {
              float results[4];
              kernel.dot4(w.row(r), xs, cols, results);
              for (int j = 0; j < 4; ++j) out.data[(i + j) * out.stride + r] = results[j];
            }
          }
        }
        for (; i < n; ++i) {
          const void* xi = act + i * activation_stride;
          float* oi = out.data + i * out.stride;
          for (int64_t r = tile; r < tile_end; ++r) oi[r] = kernel.dot(w.row(r), xi, cols);
        }
      }
      return;
    }
    // No direct kernel for this type: dequantize each row once, then a float dot per activation row.
    thread_local std::vector<float> row;
    row.resize(static_cast<size_t>(cols));
    for (int64_t r = first; r < last; ++r) {
      dequantize_row(w.type, w.row(r), row.data(), cols);
      for (int64_t i = 0; i < n; ++i)
        out.data[i * out.stride + r] = kernels_.dot_f32(row.data(), x.data + i * x.stride, cols);
    }
  }

  // The group kernel for a weight type on this ISA: F32 / F16 / BF16 on AVX2 and AVX-512; the
  // block-32 types and Q4_K on AVX-512 VNNI and AVX2 (interleaved.h says why not Q6_K). Null: the row kernels
  // read the file's rows. With it, how many rows one call covers (the AVX-512 float kernels take two
  // consecutive groups) and the activation format it reads.
  struct GroupKernelChoice {
    GroupKernel kernel = nullptr;
    int rows_per_call = simd::kGroupRows;
    ActivationFormat activation = ActivationFormat::f32;
  };
  GroupKernelChoice group_kernel_for(TensorType type) const {
    if (isa_ == SimdIsa::portable) return {};
    if (type == TensorType::BF16 && bf16_dot_)
      return {simd::interleaved_bf16dot_group_avx512, 2 * simd::kGroupRows, ActivationFormat::bf16_pairs};
    if (simd::interleaved_float_type(type)) return float_kernel();
    const ActivationFormat int8 = kernels_.kernel_for(type).activation;
    if (isa_ == SimdIsa::avx512)
      return {type == TensorType::Q5_K && gfni_ ? simd::interleaved_matmul_group_avx512_gfni
                                                : simd::interleaved_matmul_group_avx512,
              simd::kGroupRows, int8};
    return {simd::interleaved_avx2_has(type) ? simd::interleaved_matmul_group_avx2 : nullptr,
            simd::kGroupRows, int8};
  }

  // The float multiply-add group kernel of this ISA (F32, F16 and BF16 weights; none on portable).
  GroupKernelChoice float_kernel() const {
    if (isa_ == SimdIsa::portable) return {};
    return isa_ == SimdIsa::avx512
               ? GroupKernelChoice{simd::interleaved_float_group_avx512, 2 * simd::kGroupRows}
               : GroupKernelChoice{simd::interleaved_float_group_avx2};
  }

  // The type of a weight's interleaved copy: F16 or BF16 for an F32 weight whose every value is exact there
  // (interleaved.h, exact_16bit_types; F16 first), else the weight's own.
  TensorType packed_type_of(const Weight& w) {
    if (w.type != TensorType::F32 || keep_f32_ || !float_kernel().kernel) return w.type;
    ++f32_weights_;
    constexpr int64_t kScanRows = 64;
    std::atomic<bool> f16{true}, bf16{w.cols % 2 == 0};
    pool_->run(ceil_div(w.rows, kScanRows), [&](int64_t chunk) {
      for (int64_t r = chunk * kScanRows; r < std::min(w.rows, (chunk + 1) * kScanRows); ++r) {
        if (!f16.load(std::memory_order_relaxed) && !bf16.load(std::memory_order_relaxed)) return;
        const simd::Exact16Bit exact =
            simd::exact_16bit_types(reinterpret_cast<const float*>(w.row(r)), w.cols);
        if (!exact.f16) f16.store(false, std::memory_order_relaxed);
        if (!exact.bf16) bf16.store(false, std::memory_order_relaxed);
      }
    });
    if (f16) return ++f32_as_f16_, TensorType::F16;
    if (bf16) return ++f32_as_bf16_, TensorType::BF16;
    return TensorType::F32;
  }
  // How the F32 matmul weights prepared so far are held, for the kernels line (empty before any).
  std::string f32_description() const {
    if (f32_weights_ == 0) return "";
    return " (F32 weights held exactly in 16 bits: " + std::to_string(f32_as_f16_) + " as F16, " +
           std::to_string(f32_as_bf16_) + " as BF16, of " + std::to_string(f32_weights_) + ")";
  }

  SimdIsa isa_;
  bool bf16_dot_;
  bool gfni_;
  bool keep_f32_;  // LLAMASCOPE_SIMD_KEEP_F32: F32 weights stay F32 (for A/B runs and tests)
  int f32_weights_ = 0, f32_as_f16_ = 0, f32_as_bf16_ = 0;
  const SimdKernels& kernels_;
  std::shared_ptr<ThreadPool> pool_;
  // x converted for the q8_32, q8_k and bf16_pairs kernels (index: ActivationFormat less one)
  std::array<std::vector<uint8_t>, kConvertedFormats> converted_;
  // One weight of a matmuls() job; kept as a member so a decode step allocates nothing.
  struct MatmulPart {
    const Weight* w;
    Mat out;
    TypeKernel kernel;
    const Packed* packed;
    const uint8_t* act;
    size_t act_stride;
  };
  struct MatmulTask {
    size_t part;
    int64_t first, last;  // output rows
  };
  std::vector<MatmulPart> parts_;
  std::vector<MatmulTask> tasks_;
  std::vector<float> gain_buffer_;
  std::vector<double> inverse_frequencies_;
  int cached_rot_dims_ = -1;
  float cached_base_ = 0;
  std::vector<float> cached_factors_;
};

}  // namespace

const char* simd_isa_name(SimdIsa isa) {
  switch (isa) {
    case SimdIsa::portable:
      return "portable";
    case SimdIsa::avx2:
      return "avx2";
    case SimdIsa::avx512:
      return "avx512";
  }
  return "?";
}

#if defined(__x86_64__) || defined(__i386__)
// F16C straight from CPUID (leaf 1, ECX): clang 14's __builtin_cpu_supports does not know the name.
static bool cpu_has_f16c() {
  unsigned eax, ebx, ecx, edx;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C) != 0;
}
#endif

bool simd_bf16_dot(SimdIsa isa) {
#if defined(__x86_64__) || defined(__i386__)
  // AVX512_BF16: CPUID leaf 7, sub-leaf 1, EAX bit 5 (by number: older compilers lack the name).
  unsigned eax, ebx, ecx, edx;
  return isa == SimdIsa::avx512 && simd_isa_supported(isa) &&
         __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) && (eax & (1u << 5)) != 0;
#else
  (void)isa;
  return false;
#endif
}

bool simd_gfni(SimdIsa isa) {
#if defined(__x86_64__) || defined(__i386__)
  // GFNI: CPUID leaf 7, sub-leaf 0, ECX bit 8.
  unsigned eax, ebx, ecx, edx;
  return isa == SimdIsa::avx512 && simd_isa_supported(isa) &&
         __get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 8)) != 0 &&
         !std::getenv("LLAMASCOPE_SIMD_NO_GFNI");
#else
  (void)isa;
  return false;
#endif
}

bool simd_isa_supported(SimdIsa isa) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
  switch (isa) {
    case SimdIsa::portable:
      return true;
    case SimdIsa::avx2:
      return avx2;
    case SimdIsa::avx512:
      return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512vnni");
  }
  return false;
#else
  return isa == SimdIsa::portable;
#endif
}

SimdIsa simd_isa_selected() {
  SimdIsa best = SimdIsa::portable;
  for (SimdIsa isa : {SimdIsa::avx2, SimdIsa::avx512})
    if (simd_isa_supported(isa)) best = isa;
  const char* forced = std::getenv("LLAMASCOPE_SIMD_ISA");
  if (!forced || !*forced) return best;
  for (SimdIsa isa : {SimdIsa::portable, SimdIsa::avx2, SimdIsa::avx512})
    if (std::string(forced) == simd_isa_name(isa)) return std::min(isa, best);
  throw Error(std::string("LLAMASCOPE_SIMD_ISA: unknown ISA '") + forced + "' (portable, avx2 or avx512)");
}

std::unique_ptr<Backend> create_simd_backend(const BackendOptions& options, SimdIsa isa) {
  if (!simd_isa_supported(isa))
    throw Error(std::string("simd: this CPU cannot run the ") + simd_isa_name(isa) + " kernels");
  return std::make_unique<SimdBackend>(options, isa);
}

BackendEntry simd_backend_entry() {
  return BackendEntry{
      "simd",
      "AVX-512 / AVX2 / portable kernels chosen at run time, int8 activations for quantized matmuls, "
      "threaded",
      [] { return std::string(); },
      [](const BackendOptions& options) { return create_simd_backend(options, simd_isa_selected()); },
      MemorySpace::host,
      /*fallback_rank=*/20,  // the fastest host backend with every op: tried before the scalar reference
  };
}

}  // namespace llamascope
