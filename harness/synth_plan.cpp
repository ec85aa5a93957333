// What a synthesized file holds and how its rows are made: the tensor plan (types and scales), the model
// metadata, the seeded random rows, and the chunked generate-quantize-write of one tensor.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numbers>

#include "harness/synth.h"
#include "harness/synth_file.h"
#include "harness/synth_progress.h"
#include "kernels/quant.h"
#include "kernels/thread_pool.h"

namespace llamascope {

namespace {

uint64_t mix64(uint64_t z) {  // splitmix64's finalizer
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t fnv1a64(const std::string& s) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001B3ull;
  return h;
}

}  // namespace

void synth_normal_row(uint64_t seed, const std::string& tensor_name, int64_t row, float std, float* out,
                      int64_t n) {
  // One splitmix64 stream per (seed, tensor, row): rows are independent of the order they are made in.
  uint64_t state = mix64(mix64(mix64(seed) ^ fnv1a64(tensor_name)) + static_cast<uint64_t>(row));
  auto next = [&state] { return mix64(state += 0x9E3779B97F4A7C15ull); };
  for (int64_t i = 0; i < n; i += 2) {  // Box-Muller: two normals from two uniforms
    const double u1 = static_cast<double>((next() >> 11) + 1) * 0x1p-53;  // (0, 1]: log(u1) is finite
    const double u2 = static_cast<double>(next() >> 11) * 0x1p-53;
    const double r = std::sqrt(-2.0 * std::log(u1)) * std;
    const double theta = 2 * std::numbers::pi * u2;
    out[i] = static_cast<float>(r * std::cos(theta));
    if (i + 1 < n) out[i + 1] = static_cast<float>(r * std::sin(theta));
  }
}

namespace synth {
namespace {

// LLaMA 3.2's scaling (Meta's params.json: factor 32, low 1, high 4, original context 8192).
constexpr double kLlama3LowFreqFactor = 1, kLlama3HighFreqFactor = 4, kLlama3OriginalContext = 8192;

// The standard deviation of the logits, and of the residual stream, in units where RMSNorm's output has
// RMS 1. At 3 sampling stays varied (the perplexity of a 32000-token distribution is a few hundred) while
// the argmax usually stands clear of the runner-up, so quantized and reference paths agree on it.
constexpr double kLogitStd = 3.0;
// q and k weights of std kQKGain / sqrt(dim) give attention scores of std kQKGain^2 = 2: attention picks
// out a few positions instead of averaging them all away, so context keeps steering the next token (with
// std 1, greedy decoding falls into two- or three-token loops within a few dozen tokens).
constexpr double kQKGain = 1.4142135623730951;

}  // namespace

// Scales: RMSNorm hands every matrix an input of RMS 1, so N(0, 1/fan_in) weights give v, gate and up
// outputs of variance 1 (q and k: kQKGain^2). Each of the 2L residual writers (attn_output, ffn_down) is
// N(0, kLogitStd^2 / (L * fan_in)), so the layers together add a residual of RMS about kLogitStd whatever
// the depth: finite everywhere, no layer drowning the others. The embedding is N(0, kLogitStd^2 / dim):
// rows of norm kLogitStd, so a tied classifier (token_embd . normalized state) gives logits of std
// kLogitStd, and the current token's own embedding, 1/sqrt(dim) of the residual once the layers have
// added theirs, does not make a tied model repeat its input. An untied output.weight is
// N(0, kLogitStd^2 / dim) for the same spread.
Plan plan_tensors(const SynthPreset& p, int64_t vocab, const QuantTarget& target) {
  Plan plan;
  const int64_t dim = p.dim, kv = int64_t{p.n_kv_heads} * p.head_dim(), hidden = p.hidden;
  const double layers = p.n_layers;
  auto add = [&](std::string name, std::vector<int64_t> shape, Init init, double std) {
    TensorType type = choose_tensor_type(target, name, shape.size(), p.n_layers, !p.tied);
    if (shape[0] % type_info(type).block_elems != 0) {
      const TensorType fb = fallback_type(type, shape[0]);
      ++plan.fallbacks[{type, fb, shape[0]}];
      type = fb;
    }
    plan.tensors.push_back({std::move(name), std::move(shape), type, init, static_cast<float>(std)});
  };
  add("token_embd.weight", {dim, vocab}, Init::normal, kLogitStd / std::sqrt(dim));
  if (p.llama3_rope_scale > 0) add("rope_freqs.weight", {p.head_dim() / 2}, Init::rope_factors, 0);
  for (int l = 0; l < p.n_layers; ++l) {
    const std::string b = fmt::format("blk.{}.", l);
    add(b + "attn_norm.weight", {dim}, Init::ones, 0);
    add(b + "attn_q.weight", {dim, dim}, Init::normal, kQKGain / std::sqrt(dim));
    add(b + "attn_k.weight", {dim, kv}, Init::normal, kQKGain / std::sqrt(dim));
    add(b + "attn_v.weight", {dim, kv}, Init::normal, 1 / std::sqrt(dim));
    add(b + "attn_output.weight", {dim, dim}, Init::normal, kLogitStd / std::sqrt(dim * layers));
    add(b + "ffn_norm.weight", {dim}, Init::ones, 0);
    add(b + "ffn_gate.weight", {dim, hidden}, Init::normal, 1 / std::sqrt(dim));
    add(b + "ffn_up.weight", {dim, hidden}, Init::normal, 1 / std::sqrt(dim));
    add(b + "ffn_down.weight", {hidden, dim}, Init::normal, kLogitStd / std::sqrt(hidden * layers));
  }
  add("output_norm.weight", {dim}, Init::ones, 0);
  if (!p.tied) add("output.weight", {dim, vocab}, Init::normal, kLogitStd / std::sqrt(dim));
  return plan;
}

std::vector<GgufKeyValue> model_metadata(const SynthPreset& p, int64_t vocab, const QuantTarget& target,
                                         uint64_t seed) {
  return {{"general.architecture", str("llama")},
          {"general.name", str(fmt::format("synth {} ({})", p.name, p.model))},
          {"general.file_type", u32(target.file_type)},
          {"general.quantization_version", u32(2)},
          {"llama.context_length", u32(static_cast<uint64_t>(p.context))},
          {"llama.embedding_length", u32(static_cast<uint64_t>(p.dim))},
          {"llama.block_count", u32(static_cast<uint64_t>(p.n_layers))},
          {"llama.feed_forward_length", u32(static_cast<uint64_t>(p.hidden))},
          {"llama.attention.head_count", u32(static_cast<uint64_t>(p.n_heads))},
          {"llama.attention.head_count_kv", u32(static_cast<uint64_t>(p.n_kv_heads))},
          {"llama.rope.dimension_count", u32(static_cast<uint64_t>(p.head_dim()))},
          {"llama.attention.layer_norm_rms_epsilon", f32(p.rms_eps)},
          {"llama.rope.freq_base", f32(p.rope_base)},
          {"llama.vocab_size", u32(static_cast<uint64_t>(vocab))},
          {"llamascope.synth.preset", str(p.name)},
          {"llamascope.synth.seed", scalar(GgufType::UINT64, seed)}};
}

void write_tensor(GgufWriter& writer, const PlannedTensor& t, const SynthPreset& p, uint64_t seed,
                  ThreadPool& pool, WriteProgress& progress, uint64_t& written) {
  const int64_t row = t.row(), rows = t.rows();
  if (t.init != Init::normal) {  // one F32 row
    std::vector<float> values(static_cast<size_t>(row), 1.0f);
    if (t.init == Init::rope_factors)
      values = llama3_rope_factors(p.head_dim(), p.rope_base, p.llama3_rope_scale, kLlama3LowFreqFactor,
                                   kLlama3HighFreqFactor, kLlama3OriginalContext);
    writer.write_tensor_data(values.data(), values.size() * sizeof(float));
    written += values.size() * sizeof(float);
    return;
  }
  const size_t out_row_bytes = row_bytes(t.type, row);
  // Chunks of about 16M elements bound memory for any tensor size, as in quantize.
  const int64_t chunk_rows = std::max<int64_t>(1, (int64_t{1} << 24) / row);
  std::vector<uint8_t> out(static_cast<size_t>(std::min(chunk_rows, rows)) * out_row_bytes);
  for (int64_t r0 = 0; r0 < rows; r0 += chunk_rows) {
    const int64_t nr = std::min(chunk_rows, rows - r0);
    pool.run(nr, [&](int64_t r) {
      thread_local std::vector<float> scratch;
      scratch.resize(static_cast<size_t>(row));
      float* src = scratch.data();
      uint8_t* dst = out.data() + static_cast<size_t>(r) * out_row_bytes;
      synth_normal_row(seed, t.name, r0 + r, t.std,
                       t.type == TensorType::F32 ? reinterpret_cast<float*>(dst) : src, row);
      if (t.type != TensorType::F32) quantize_row(t.type, src, dst, row);
    });
    writer.write_tensor_data(out.data(), static_cast<uint64_t>(nr) * out_row_bytes);
    written += static_cast<uint64_t>(nr) * out_row_bytes;
    progress.update(written, t.name);
  }
}

}  // namespace synth
}  // namespace llamascope
