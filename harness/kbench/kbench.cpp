// llamascope-kbench: Google Benchmark microbenchmarks of every op x backend x tensor type at the shapes of
// real models (the TinyLlama-1.1B and LLaMA-2-7B matmuls; attention at several cache lengths), with
// bytes/s and FLOP/s counters from the same op descriptor as `llamascope profile` (kernels/op_desc.h).
// Google Benchmark's own flags work as usual (--benchmark_filter, --benchmark_format=json,
// --benchmark_repetitions, ...); --threads=N (default 1) sets the backends' thread count.
// Names: OP/BACKEND/TYPE/PRESET/WHAT/n:ROWS[/keys:K]; the label is the op's descriptor (OpDesc::str()), which
// `llamascope kernels --check --case '<label>'` checks at the same shape.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/model.h"
#include "harness/environment.h"
#include "kernels/backend.h"
#include "kernels/op_desc.h"
#include "kernels/quant.h"

namespace llamascope {
namespace {

struct Preset {
  const char* name;
  ModelConfig config;
};

ModelConfig make_config(int dim, int n_heads, int n_kv_heads, int hidden, int vocab) {
  ModelConfig c;
  c.dim = dim;
  c.n_layers = 1;
  c.n_heads = n_heads;
  c.n_kv_heads = n_kv_heads;
  c.head_dim = dim / n_heads;
  c.rope_dims = c.head_dim;
  c.hidden_dim = hidden;
  c.vocab_size = vocab;
  c.context_length = 4096;
  return c;
}

const std::vector<Preset>& presets() {
  static const std::vector<Preset> p = {
      {"1.1B", make_config(2048, 32, 4, 5632, 32000)},  // TinyLlama-1.1B
      {"7B", make_config(4096, 32, 32, 11008, 32000)},  // LLaMA-2-7B
  };
  return p;
}


int g_threads = 1;

// A weight of random values in `type`. The last one made is kept: benchmarks are registered shape by shape
// and type by type, so consecutive backends and batch sizes share it.
const Weight& random_weight(TensorType type, int64_t rows, int64_t cols) {
  static std::vector<uint8_t> bytes;
  static Weight weight;
  if (weight.present() && weight.type == type && weight.rows == rows && weight.cols == cols) return weight;
  const size_t rb = row_bytes(type, cols);
  bytes.assign(rb * static_cast<size_t>(rows), 0);
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f / std::sqrt(static_cast<float>(cols)));
  std::vector<float> row(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (float& v : row) v = normal(rng);
    if (type == TensorType::F32)
      std::memcpy(bytes.data() + r * rb, row.data(), rb);
    else
      quantize_row(type, row.data(), bytes.data() + r * rb, cols);
  }
  weight = Weight{fmt::format("kbench.{}x{}", rows, cols), type, bytes.data(), rows, cols, rb};
  return weight;
}

// The buffers of one benchmark, freed when it ends (before its backend: declared after it).
struct Scratch {
  std::vector<Buffer> buffers;

  Mat alloc(Backend& backend, int64_t rows, int64_t cols) {
    buffers.push_back(backend.alloc(rows, cols));
    return buffers.back().mat;
  }
  Mat random(Backend& backend, int64_t rows, int64_t cols, uint32_t seed) {
    const Mat m = alloc(backend, rows, cols);
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> host(static_cast<size_t>(rows * cols));
    for (float& v : host) v = normal(rng);
    backend.upload(m, host.data());
    return m;
  }
};

std::unique_ptr<Backend> make_backend(const BackendEntry& entry) {
  return entry.create(BackendOptions{g_threads});
}

void set_counters(benchmark::State& state, const OpDesc& op) {
  const double iterations = static_cast<double>(state.iterations()), bytes = op.bytes(), flops = op.flops();
  state.SetBytesProcessed(static_cast<int64_t>(bytes * iterations));
  state.counters["FLOP/s"] = benchmark::Counter(flops * iterations, benchmark::Counter::kIsRate);
  state.counters["bytes"] = bytes;
  state.counters["flops"] = flops;
  state.SetLabel(op.str());
}

void register_matmul(const BackendEntry& entry, const Preset& preset, const char* what, int64_t rows,
                     int64_t cols, TensorType type, int64_t n) {
  const std::string name = fmt::format("matmul/{}/{}/{}/{}:{}x{}/n:{}", entry.name, type_name(type),
                                       preset.name, what, rows, cols, n);
  benchmark::RegisterBenchmark(name.c_str(),
                               [&entry, rows, cols, type, n](benchmark::State& state) {
                                 std::unique_ptr<Backend> backend = make_backend(entry);
                                 Scratch mem;
                                 const Weight& w = random_weight(type, rows, cols);
                                 const WeightHandle h = backend->prepare(w, OpKind::matmul);
                                 const Mat x = mem.random(*backend, n, cols, 1),
                                           out = mem.alloc(*backend, n, rows);
                                 for (auto _ : state) {
                                   backend->matmul(*h, x, out);
                                   backend->synchronize();
                                 }
                                 set_counters(state, OpDesc::matmul(type, rows, cols, n));
                               })
      ->Unit(benchmark::kMicrosecond)
      ->UseRealTime();
}

void register_embed(const BackendEntry& entry, const Preset& preset, TensorType type, int64_t n) {
  const ModelConfig config = preset.config;
  const std::string name = fmt::format("embed/{}/{}/{}/table:{}x{}/n:{}", entry.name, type_name(type),
                                       preset.name, config.vocab_size, config.dim, n);
  benchmark::RegisterBenchmark(name.c_str(),
                               [&entry, config, type, n](benchmark::State& state) {
                                 std::unique_ptr<Backend> backend = make_backend(entry);
                                 Scratch mem;
                                 const Weight& table = random_weight(type, config.vocab_size, config.dim);
                                 std::vector<int32_t> tokens(static_cast<size_t>(n));
                                 for (int64_t i = 0; i < n; ++i)
                                   tokens[static_cast<size_t>(i)] =
                                       static_cast<int32_t>((i * 7919) % config.vocab_size);
                                 const Mat out = mem.alloc(*backend, n, config.dim);
                                 const WeightHandle h = backend->prepare(table, OpKind::embed);
                                 for (auto _ : state) {
                                   backend->embed(*h, tokens, out);
                                   backend->synchronize();
                                 }
                                 set_counters(state, OpDesc::embed(type, config.vocab_size, config.dim, n));
                               })
      ->Unit(benchmark::kMicrosecond)
      ->UseRealTime();
}

// The F32 ops without weights (rmsnorm reads its gain vector) at one preset's widths.
void register_activation_op(const BackendEntry& entry, const Preset& preset, OpKind op, int64_t n,
                            int64_t pos0) {
  const ModelConfig config = preset.config;
  std::string name = fmt::format("{}/{}/F32/{}/n:{}", op_kind_name(op), entry.name, preset.name, n);
  if (op == OpKind::attention) name += fmt::format("/keys:{}", pos0 + n);
  if (op == OpKind::rope) name += fmt::format("/pos:{}", pos0);
  benchmark::RegisterBenchmark(
      name.c_str(),
      [&entry, config, op, n, pos0](benchmark::State& state) {
        std::unique_ptr<Backend> backend = make_backend(entry);
        Scratch mem;
        const ModelConfig& c = config;
        std::vector<float> gain(static_cast<size_t>(c.dim), 1.0f);
        const Weight gain_weight{"gain", TensorType::F32, gain.data(),
                                 1,      c.dim,           static_cast<size_t>(c.dim) * sizeof(float)};
        const RopeParams rope{c.n_heads, c.n_kv_heads, c.head_dim, c.rope_dims, c.rope_freq_base, nullptr};
        const AttentionShape shape{c.n_heads, c.n_kv_heads, c.head_dim};
        OpDesc desc;
        switch (op) {
          case OpKind::rmsnorm: {
            const Mat x = mem.random(*backend, n, c.dim, 1), out = mem.alloc(*backend, n, c.dim);
            const WeightHandle gain_handle = backend->prepare(gain_weight, OpKind::rmsnorm);
            for (auto _ : state) backend->rmsnorm(x, *gain_handle, c.rms_eps, out), backend->synchronize();
            desc = OpDesc::rowwise(op, c.dim, n);
            break;
          }
          case OpKind::rope: {
            const Mat q = mem.random(*backend, n, c.q_dim(), 1), k = mem.random(*backend, n, c.kv_dim(), 2);
            for (auto _ : state) backend->rope(q, k, pos0, rope), backend->synchronize();
            desc = OpDesc::rope(c.n_heads, c.n_kv_heads, c.head_dim, n, pos0, false);
            break;
          }
          case OpKind::attention: {
            const Mat q = mem.random(*backend, n, c.q_dim(), 1), out = mem.alloc(*backend, n, c.q_dim());
            const Mat k_cache = mem.random(*backend, pos0 + n, c.kv_dim(), 2);
            const Mat v_cache = mem.random(*backend, pos0 + n, c.kv_dim(), 3);
            for (auto _ : state)
              backend->attention(q, KvCache::f32_view(k_cache, v_cache), pos0, shape, out),
                  backend->synchronize();
            desc = OpDesc::attention(TensorType::F32, c.n_heads, c.n_kv_heads, c.head_dim, n, pos0);
            break;
          }
          case OpKind::swiglu: {
            const Mat gate = mem.random(*backend, n, c.hidden_dim, 1),
                      up = mem.random(*backend, n, c.hidden_dim, 2);
            const Mat out = mem.alloc(*backend, n, c.hidden_dim);
            for (auto _ : state) backend->swiglu(gate, up, out), backend->synchronize();
            desc = OpDesc::rowwise(op, c.hidden_dim, n);
            break;
          }
          case OpKind::add: {
            const Mat acc = mem.random(*backend, n, c.dim, 1), x = mem.random(*backend, n, c.dim, 2);
            for (auto _ : state) backend->add(acc, x), backend->synchronize();
            desc = OpDesc::rowwise(op, c.dim, n);
            break;
          }
          default:
            state.SkipWithError("not an activation op");
            return;
        }
        set_counters(state, desc);
      })
      ->Unit(benchmark::kMicrosecond)
      ->UseRealTime();
}

void register_all() {
  // One instance of each usable backend answers supports() for the whole registration.
  std::vector<std::pair<const BackendEntry*, std::unique_ptr<Backend>>> usable;
  for (const BackendEntry& entry : backend_registry())
    if (entry.unavailable_reason().empty()) usable.emplace_back(&entry, entry.create(BackendOptions{1}));
  for (const auto& [entry_ptr, probe] : usable) {
    const BackendEntry& entry = *entry_ptr;
    for (const Preset& preset : presets()) {
      for (OpKind op : {OpKind::rmsnorm, OpKind::swiglu, OpKind::add})
        if (probe->supports(op, TensorType::F32))
          for (int64_t n : {1, 64}) register_activation_op(entry, preset, op, n, 0);
      if (probe->supports(OpKind::rope, TensorType::F32))
        for (int64_t n : {1, 64}) register_activation_op(entry, preset, OpKind::rope, n, 100);
      if (probe->supports(OpKind::attention, TensorType::F32)) {
        for (int64_t keys : {128, 512, 2048, 4096})
          register_activation_op(entry, preset, OpKind::attention, 1, keys - 1);
        register_activation_op(entry, preset, OpKind::attention, 64, 0);
        register_activation_op(entry, preset, OpKind::attention, 64, 448);
      }
      for (TensorType type : kModelWeightTypes)
        if (probe->supports(OpKind::embed, type) && can_quantize_to(type))
          for (int64_t n : {1, 64}) register_embed(entry, preset, type, n);
    }
  }
  // Matmuls shape by shape, then type, then backend, so each random weight is made once.
  for (const Preset& preset : presets()) {
    const ModelConfig& c = preset.config;
    const struct {
      const char* what;
      int64_t rows, cols;
    } shapes[] = {{"attn_q", c.q_dim(), c.dim},      {"attn_kv", c.kv_dim(), c.dim},
                  {"attn_out", c.dim, c.q_dim()},    {"ffn_gate_up", c.hidden_dim, c.dim},
                  {"ffn_down", c.dim, c.hidden_dim}, {"output", c.vocab_size, c.dim}};
    for (const auto& s : shapes) {
      if (s.rows == c.dim && s.cols == c.dim && std::string(s.what) == "attn_out")
        continue;                                                             // same shape as attn_q
      if (s.rows == c.q_dim() && std::string(s.what) == "attn_kv") continue;  // 7B: no GQA, same as attn_q
      for (TensorType type : kModelWeightTypes) {
        if (type != TensorType::F32 && !can_quantize_to(type)) continue;
        for (const auto& [entry, probe] : usable)
          if (probe->supports(OpKind::matmul, type))
            for (int64_t n : {1, 64}) {
              // The scalar reference at 7B prefill shapes takes tens of seconds an iteration: decode only.
              if (n > 1 && entry->name == "scalar" && std::string(preset.name) == "7B") continue;
              register_matmul(*entry, preset, s.what, s.rows, s.cols, type, n);
            }
      }
    }
  }
}

}  // namespace
}  // namespace llamascope

int main(int argc, char** argv) {
  // --threads=N is ours; everything else goes to Google Benchmark.
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--threads=", 10) == 0) {
      llamascope::g_threads = std::max(1, std::atoi(argv[i] + 10));
      continue;
    }
    args.push_back(argv[i]);
  }
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  const nlohmann::json& env = llamascope::environment_json();
  benchmark::AddCustomContext("llamascope.threads", std::to_string(llamascope::g_threads));
  benchmark::AddCustomContext("llamascope.cpu", env["cpu"]["model"].get<std::string>());
  benchmark::AddCustomContext("llamascope.build", env["build"].dump());
  llamascope::register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
