// A kernel set: backends composed per op on one memory space, parsed from a spec such as "simd" or
// "simd,matmul=scalar". The forward pass calls ops through it; it picks the backend for each op and weight
// type, falling back by the registry's ranks (and saying so once on stderr) where a backend lacks one.
#pragma once

#include <array>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/backend.h"

namespace llamascope {

class KernelSet {
 public:
  // Throws Error for an unknown backend or op name, or a backend unavailable on this machine (with why).
  KernelSet(const std::string& spec, const BackendOptions& options);

  // The canonical spec: the default backend, then op=backend overrides in op order.
  const std::string& spec() const { return spec_; }
  int threads() const { return options_.threads; }
  // The backend that owns buffers (the default one).
  Backend& memory() { return *backends_.front(); }
  // The backend that runs `op` on weights of `type`.
  Backend& for_op(OpKind op, TensorType type = TensorType::F32);
  // Names of the distinct backends in this set, default first.
  std::vector<std::string> backend_names() const;
  // Per-backend description lines (ISA, library), for records and `kernels`.
  std::vector<std::string> descriptions() const;

  // outs[i] = x · weights[i]ᵀ: one backend call when one backend runs matmuls of every weight's type, else
  // one matmul after another on each weight's backend.
  void matmuls(std::span<const PreparedWeight* const> weights, Mat x, std::span<const Mat> outs);

  // The handle of `w` from the backend that runs `op` on its type. A weight still held by a handle from an
  // earlier call (another Forward of this set, or of a set sharing the backend) is not prepared again.
  WeightHandle prepare(const Weight& w, OpKind op);
  void synchronize();
  // Finishes queued work and lets every backend give its CPU back (Backend::rest).
  void rest();
  // The default backend's op timer: every backend of a set shares its memory space, so its clock sees their
  // work.
  OpTimer& timer();

  // Bench's -k takes a list of kernel sets: "scalar,simd,matmul=scalar" = {"scalar", "simd,matmul=scalar"}
  // (an op=backend item belongs to the set before it).
  static std::vector<std::string> split_list(const std::string& list);

 private:
  Backend& get_or_create(const std::string& name);

  std::string spec_;
  BackendOptions options_;
  // [0] is the default. Shared with the other sets of the process that use the same backend with the same
  // options while they live (kernel_set.cpp), with the weights they prepared.
  std::vector<std::shared_ptr<Backend>> backends_;
  std::array<Backend*, static_cast<size_t>(OpKind::count)> op_backend_{};
  std::map<std::pair<int, int>, Backend*> fallbacks_;  // (op, type) -> backend, resolved and announced once
  std::unique_ptr<OpTimer> timer_;                     // made on first use
};

}  // namespace llamascope
