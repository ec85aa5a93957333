#include "kernels/backend.h"

#include <algorithm>
#include <chrono>
#include <new>
#include <stdexcept>

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
  switch (op) {
    case OpKind::embed:
      return "embed";
    case OpKind::rmsnorm:
      return "rmsnorm";
    case OpKind::matmul:
      return "matmul";
    case OpKind::rope:
      return "rope";
    case OpKind::attention:
      return "attention";
    case OpKind::swiglu:
      return "swiglu";
    case OpKind::add:
      return "add";
    case OpKind::count:
      break;
  }
  return "?";
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
void Backend::attention(Mat, Mat, Mat, int64_t, const AttentionShape&, Mat) {
  unsupported(OpKind::attention);
}
void Backend::swiglu(Mat, Mat, Mat) {
  unsupported(OpKind::swiglu);
}
void Backend::add(Mat, Mat) {
  unsupported(OpKind::add);
}

}  // namespace llamascope
