// The kernel interface's contracts that the op checker does not see: the registry built from the configured
// folders (the test build's `testref` backend among them), fallback by registry rank for an op a backend
// declines, the backend's timer, and memory and weight handles scoped to their users.
#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/error.h"
#include "engine/forward.h"
#include "engine/model.h"
#include "kernels/kernel_set.h"

namespace llamascope {
namespace {

TEST(Interface, RegistryHoldsTheTestBuildsBackend) {
  // tests/test_backend/ registered it through llamascope_add_backend: no list was edited for it.
  const BackendEntry* entry = find_backend("testref");
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->fallback_rank, 0);
  EXPECT_EQ(backend_registry().front().name, "scalar");
}

// A backend that declares nothing: every op is unsupported, and nothing else had to be written.
class BareBackend final : public Backend {
 public:
  std::string name() const override { return "bare"; }
  Buffer alloc(int64_t rows, int64_t cols) override { return host_buffer(rows, cols); }
  void upload(Mat, const float*) override {}
  void download(Mat, float*) override {}
};

TEST(Interface, OpsAreUnsupportedByDefault) {
  BareBackend bare;
  for (int op = 0; op < static_cast<int>(OpKind::count); ++op)
    EXPECT_FALSE(bare.supports(static_cast<OpKind>(op), TensorType::F32)) << op_kind_name(OpKind(op));
  Buffer x = bare.alloc(1, 4);
  EXPECT_THROW(bare.add(x.mat, x.mat), std::logic_error);
}

TEST(Interface, FallbackOrderComesFromTheRegistry) {
  // testref declines rope; the highest-ranked host backend that has it runs it.
  KernelSet kernels("testref", BackendOptions{1});
  EXPECT_EQ(kernels.for_op(OpKind::matmul, TensorType::Q4_0).name(), "testref");
  EXPECT_EQ(kernels.for_op(OpKind::rope).name(), find_backend("simd") ? "simd" : "scalar");
}

TEST(Interface, TimeComesFromTheBackendsTimer) {
  KernelSet kernels("scalar", BackendOptions{1});
  OpTimer& timer = kernels.timer();
  EXPECT_STREQ(timer.clock_name(), "host_steady");
  timer.start();
  const uint64_t first = timer.stop();
  timer.start();
  volatile double sink = 0;
  for (int i = 0; i < 100000; ++i) sink = sink + i;
  EXPECT_GT(timer.stop() + first, 0u);
}

TEST(Interface, BuffersAreFreedWithTheirLastHolder) {
  std::unique_ptr<Backend> backend = find_backend("scalar")->create(BackendOptions{1});
  Buffer buffer = backend->alloc(3, 5);
  const std::weak_ptr<void> memory = buffer.memory;
  Buffer copy = buffer;
  buffer = Buffer{};
  EXPECT_FALSE(memory.expired());
  copy = Buffer{};
  EXPECT_TRUE(memory.expired());
}

TEST(Interface, ForwardsOfOneKernelSetShareWeightHandles) {
  const std::unique_ptr<Model> model =
      load_model(std::string(LLAMASCOPE_GOLDEN_DIR) + "/models/synth-mini-Q4_0.gguf");
  KernelSet kernels(find_backend("simd") ? "simd" : "scalar", BackendOptions{1});
  const Weight& w = model->layers[0].ffn_down;
  WeightHandle first = kernels.prepare(w, OpKind::matmul);
  EXPECT_EQ(first->host.data, w.data);
  // Held: the same handle (one copy) for a second user; released: a new one.
  EXPECT_EQ(kernels.prepare(w, OpKind::matmul).get(), first.get());
  const std::weak_ptr<const PreparedWeight> held = first;
  first.reset();
  EXPECT_TRUE(held.expired());
  {
    Forward a(*model, kernels, 16, 4);
    Forward b(*model, kernels, 16, 4);
    EXPECT_EQ(a.prepared_bytes(), b.prepared_bytes());
    std::vector<float> la(static_cast<size_t>(model->config.vocab_size)), lb(la.size());
    const int32_t tokens[] = {1, 2, 3};
    a.eval(tokens, 0, la.data());
    b.eval(tokens, 0, lb.data());
    EXPECT_EQ(la, lb);
  }
}

TEST(Interface, KvCacheTypeIsAChoice) {
  const std::unique_ptr<Model> model =
      load_model(std::string(LLAMASCOPE_GOLDEN_DIR) + "/models/synth-mini-Q4_0.gguf");
  KernelSet kernels(find_backend("simd") ? "simd" : "scalar", BackendOptions{1});
  Forward f32(*model, kernels, 16, 4, TensorType::F32);
  Forward f16(*model, kernels, 16, 4, TensorType::F16);
  EXPECT_EQ(f16.kv_cache_bytes() * 2, f32.kv_cache_bytes());
  EXPECT_THROW(Forward(*model, kernels, 16, 4, TensorType::Q8_0), Error);
  const size_t vocab = static_cast<size_t>(model->config.vocab_size);
  std::vector<float> a(vocab * 6), b(vocab * 6);
  const int32_t tokens[] = {1, 20, 300, 41, 5, 77};
  f32.eval(tokens, 0, a.data(), /*all_logits=*/true);
  f16.eval(tokens, 0, b.data(), /*all_logits=*/true);
  // Keys and values rounded to 11-bit mantissas move the logits a little: within the golden limit of a Q4_0
  // model against llama.cpp (golden/tolerances.json), never by a broken cache's O(1).
  double diff = 0, norm = 0;
  for (size_t i = 0; i < a.size(); ++i) diff += (a[i] - b[i]) * (a[i] - b[i]), norm += a[i] * a[i];
  EXPECT_GT(diff, 0);
  EXPECT_LT(diff / norm, 1e-3);
}

}  // namespace
}  // namespace llamascope
