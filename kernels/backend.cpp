#include "kernels/backend.h"

#include <algorithm>
#include <chrono>
#include <iterator>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>

#include "kernels/quant.h"

namespace llamascope {
namespace {

class HostTimer final : public OpTimer {
 public:
  explicit HostTimer(Backend& backend) : backend_(backend) {}
  const char* clock_name() const override { return "host_steady"; }
  void start() override {
    backend_.synchronize();
    start_ = std::chrono::steady_clock::now();
  }
  uint64_t stop() override {
    backend_.synchronize();
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start_)
            .count());
  }

 private:
  Backend& backend_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace

const char* op_kind_name(OpKind op) {
  // Indexed by OpKind, in its order.
  static constexpr const char* kNames[] = {"embed",     "rmsnorm", "matmul", "rope",
                                           "attention", "swiglu",  "add"};
  static_assert(std::size(kNames) == static_cast<size_t>(OpKind::count));
  const auto i = static_cast<size_t>(op);
  return i < std::size(kNames) ? kNames[i] : "?";
}

const char* memory_space_name(MemorySpace space) {
  return space == MemorySpace::host ? "host" : "cuda";
}

Buffer host_buffer(int64_t rows, int64_t cols) {
  const size_t count = static_cast<size_t>(rows * cols);
  const size_t bytes = (count * sizeof(float) + 63) / 64 * 64;
  float* data = static_cast<float*>(::operator new[](std::max<size_t>(bytes, 64), std::align_val_t(64)));
  std::fill(data, data + count, 0.0f);
  std::shared_ptr<void> memory(data, [](void* p) { ::operator delete[](p, std::align_val_t(64)); });
  return Buffer{Mat{data, rows, cols, cols}, std::move(memory)};
}

std::unique_ptr<OpTimer> Backend::make_timer() {
  return std::make_unique<HostTimer>(*this);
}

void Backend::unsupported(OpKind op) const {
  throw std::logic_error("backend '" + name() + "' was asked for " + op_kind_name(op) +
                         ", which its supports() declines");
}

void Backend::embed(const PreparedWeight&, std::span<const int32_t>, Mat) {
  unsupported(OpKind::embed);
}
void Backend::rmsnorm(Mat, const PreparedWeight&, float, Mat) {
  unsupported(OpKind::rmsnorm);
}
void Backend::matmul(const PreparedWeight&, Mat, Mat) {
  unsupported(OpKind::matmul);
}
void Backend::rope(Mat, Mat, int64_t, const RopeParams&) {
  unsupported(OpKind::rope);
}
void Backend::kv_write(KvCache&, Mat, Mat, int64_t) {
  unsupported(OpKind::attention);
}
void Backend::attention(Mat, const KvCache&, int64_t, const AttentionShape&, Mat) {
  unsupported(OpKind::attention);
}

KvCache Backend::alloc_kv(int64_t capacity, int64_t kv_dim, TensorType type) {
  if (type != TensorType::F32 && !(type == TensorType::F16 && kv_dim % 2 == 0))
    throw std::logic_error(std::string("KV cache of ") + type_name(type) + " is not a type caches hold");
  const int64_t cols = type == TensorType::F16 ? kv_dim / 2 : kv_dim;
  auto buffers = std::make_shared<std::pair<Buffer, Buffer>>(alloc(capacity, cols), alloc(capacity, cols));
  return KvCache{type, capacity, kv_dim, buffers->first.mat, buffers->second.mat, buffers};
}

void host_kv_write(KvCache& cache, Mat k, Mat v, int64_t pos0) {
  for (int64_t i = 0; i < k.rows; ++i)
    for (auto [src, dst] : {std::pair{k, cache.k}, std::pair{v, cache.v}}) {
      const float* from = src.data + i * src.stride;
      if (cache.type == TensorType::F32) {
        std::copy(from, from + cache.kv_dim, dst.data + (pos0 + i) * dst.stride);
      } else {
        uint16_t* to = reinterpret_cast<uint16_t*>(dst.data) + (pos0 + i) * 2 * dst.stride;
        for (int64_t j = 0; j < cache.kv_dim; ++j) to[j] = fp32_to_fp16(from[j]);
      }
    }
}
void Backend::swiglu(Mat, Mat, Mat) {
  unsupported(OpKind::swiglu);
}
void Backend::add(Mat, Mat) {
  unsupported(OpKind::add);
}

}  // namespace llamascope
