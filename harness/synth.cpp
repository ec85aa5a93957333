// `llamascope synth --preset NAME --type TYPE [--seed S] [--vocab-from FILE.gguf] -o OUT.gguf` (and
// `--list`): writes a random-weight LLaMA of a real model's shapes in any tensor type, generating and
// quantizing one chunk of rows at a time so that memory stays far below the file size.
#include "harness/synth.h"

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <numbers>
#include <string>
#include <tuple>
#include <vector>

#include "base/error.h"
#include "base/tensor_type.h"
#include "engine/gguf.h"
#include "engine/tokenizer.h"
#include "harness/commands.h"
#include "harness/common.h"
#include "harness/quant_target.h"
#include "kernels/quant.h"
#include "kernels/thread_pool.h"

namespace llamascope {

// ---------------------------------------------------------------------------------------------------
// Presets
// ---------------------------------------------------------------------------------------------------

const std::vector<SynthPreset>& synth_presets() {
  // clang-format off
  static const std::vector<SynthPreset> presets = {
      // name             model                         dim  layers heads kv  hidden  vocab   context  rope base   eps   tied   llama3 rope
      {"stories15m",     "llama2.c stories15M",         288,   6,    6,   6,    768,  32000,    256,    10000.0f, 1e-5f, true,  0},
      {"stories42m",     "llama2.c stories42M",         512,   8,    8,   8,   1376,  32000,   1024,    10000.0f, 1e-5f, true,  0},
      {"stories110m",    "llama2.c stories110M",        768,  12,   12,  12,   2048,  32000,   1024,    10000.0f, 1e-5f, true,  0},
      {"smollm-135m",    "SmolLM 135M",                 576,  30,    9,   3,   1536,  49152,   2048,    10000.0f, 1e-5f, true,  0},
      {"tinyllama-1.1b", "TinyLlama 1.1B",             2048,  22,   32,   4,   5632,  32000,   2048,    10000.0f, 1e-5f, false, 0},
      {"llama-3.2-1b",   "LLaMA 3.2 1B",               2048,  16,   32,   8,   8192, 128256, 131072,   500000.0f, 1e-5f, true,  32},
      {"llama-2-7b",     "LLaMA 2 7B",                 4096,  32,   32,  32,  11008,  32000,   4096,    10000.0f, 1e-5f, false, 0},
      {"mistral-7b",     "Mistral 7B v0.1",            4096,  32,   32,   8,  14336,  32000,  32768,    10000.0f, 1e-5f, false, 0},
      {"llama-3-8b",     "LLaMA 3 8B",                 4096,  32,   32,   8,  14336, 128256,   8192,   500000.0f, 1e-5f, false, 0},
  };
  // clang-format on
  return presets;
}

const SynthPreset& find_synth_preset(const std::string& name) {
  std::string names;
  for (const SynthPreset& p : synth_presets()) {
    if (name == p.name) return p;
    names += std::string(names.empty() ? "" : " ") + p.name;
  }
  throw Error(fmt::format("unknown preset '{}' (valid: {}; see synth --list)", name, names));
}

int64_t synth_parameter_count(const SynthPreset& p, int64_t vocab) {
  const int64_t dim = p.dim, q = dim, kv = int64_t{p.n_kv_heads} * p.head_dim(), hidden = p.hidden;
  const int64_t per_layer = 2 * dim + dim * q + 2 * dim * kv + q * dim + 3 * dim * hidden;
  return vocab * dim * (p.tied ? 1 : 2) + p.n_layers * per_layer + dim;
}

std::vector<float> llama3_rope_factors(int head_dim, double base, double factor, double low_freq_factor,
                                       double high_freq_factor, double original_context) {
  const double low_freq_wavelen = original_context / low_freq_factor;
  const double high_freq_wavelen = original_context / high_freq_factor;
  std::vector<float> factors;
  for (int i = 0; i < head_dim / 2; ++i) {
    const double freq = std::pow(base, -2.0 * i / head_dim);
    const double wavelen = 2 * std::numbers::pi / freq;
    if (wavelen < high_freq_wavelen) {
      factors.push_back(1.0f);
    } else if (wavelen > low_freq_wavelen) {
      factors.push_back(static_cast<float>(factor));
    } else {
      const double smooth =
          (original_context / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
      factors.push_back(static_cast<float>(1.0 / ((1 - smooth) / factor + smooth)));
    }
  }
  return factors;
}

// ---------------------------------------------------------------------------------------------------
// Synthetic vocabulary
// ---------------------------------------------------------------------------------------------------

SynthVocab synthetic_vocab(int64_t n) {
  constexpr int64_t kFixed = 3 + 256;
  if (n <= kFixed)
    throw Error(fmt::format("a synthetic vocabulary needs more than {} tokens, got {}", kFixed, n));
  SynthVocab v;
  v.tokens.reserve(static_cast<size_t>(n));
  auto add = [&](std::string piece, float score, int32_t type) {
    v.tokens.push_back(std::move(piece));
    v.scores.push_back(score);
    v.types.push_back(type);
  };
  add("<unk>", 0, 2);
  add("<s>", 0, 3);
  add("</s>", 0, 3);
  for (int b = 0; b < 256; ++b) add(fmt::format("<0x{:02X}>", b), 0, 6);

  // Shorter pieces score higher, so SentencePiece merges them first, as with a trained vocabulary.
  const std::string space = "\xE2\x96\x81";  // U+2581, SentencePiece's word boundary
  float score = 0;
  auto add_normal = [&](std::string piece) {
    if (static_cast<int64_t>(v.tokens.size()) < n) add(std::move(piece), score -= 1, 1);
  };
  add_normal(space);
  for (char c = 0x21; c < 0x7F; ++c) add_normal(std::string(1, c));
  for (char c = 0x21; c < 0x7F; ++c) add_normal(space + c);
  // Then every lower-case word of 2, 3, ... letters, alone and word-initial, until the vocabulary is full.
  for (int len = 2; static_cast<int64_t>(v.tokens.size()) < n; ++len) {
    std::string word(static_cast<size_t>(len), 'a');
    while (static_cast<int64_t>(v.tokens.size()) < n) {
      add_normal(word);
      add_normal(space + word);
      int k = len - 1;
      while (k >= 0 && word[static_cast<size_t>(k)] == 'z') word[static_cast<size_t>(k--)] = 'a';
      if (k < 0) break;
      ++word[static_cast<size_t>(k)];
    }
  }
  return v;
}

// ---------------------------------------------------------------------------------------------------
// Random rows
// ---------------------------------------------------------------------------------------------------

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

namespace {

// ---------------------------------------------------------------------------------------------------
// The file: tensors and metadata
// ---------------------------------------------------------------------------------------------------

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

enum class Init { normal, ones, rope_factors };

struct PlannedTensor {
  std::string name;
  std::vector<int64_t> shape;  // ne0 first
  TensorType type;
  Init init;
  float std = 0;  // Init::normal
  int64_t row() const { return shape[0]; }
  int64_t rows() const { return shape.size() > 1 ? shape[1] : 1; }
  uint64_t bytes() const { return static_cast<uint64_t>(rows()) * row_bytes(type, row()); }
};

struct Plan {
  std::vector<PlannedTensor> tensors;
  std::map<std::tuple<TensorType, TensorType, int64_t>, int> fallbacks;  // (wanted, used, row) -> count
};

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

GgufValue scalar(GgufType type, uint64_t u, double f = 0, std::string str = "") {
  GgufValue g;
  g.type = type;
  g.u = u;
  g.i = static_cast<int64_t>(u);
  g.f = f;
  g.str = std::move(str);
  return g;
}
GgufValue u32(uint64_t v) {
  return scalar(GgufType::UINT32, v);
}
GgufValue f32(double v) {
  return scalar(GgufType::FLOAT32, 0, v);
}
GgufValue str(std::string v) {
  return scalar(GgufType::STRING, 0, 0, std::move(v));
}

template <class T>
GgufValue array_of(GgufType elem_type, const std::vector<T>& items) {
  GgufValue g;
  g.type = GgufType::ARRAY;
  g.elem_type = elem_type;
  g.array.resize(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    GgufValue& e = g.array[i];
    e.type = elem_type;
    if constexpr (std::is_same_v<T, std::string>)
      e.str = items[i];
    else if constexpr (std::is_floating_point_v<T>)
      e.f = items[i];
    else
      e.i = items[i];
  }
  return g;
}

std::vector<GgufKeyValue> synthetic_tokenizer_metadata(int64_t vocab) {
  SynthVocab v = synthetic_vocab(vocab);
  return {{"tokenizer.ggml.model", str("llama")},
          {"tokenizer.ggml.tokens", array_of(GgufType::STRING, v.tokens)},
          {"tokenizer.ggml.scores", array_of(GgufType::FLOAT32, v.scores)},
          {"tokenizer.ggml.token_type", array_of(GgufType::INT32, v.types)},
          {"tokenizer.ggml.unknown_token_id", u32(0)},
          {"tokenizer.ggml.bos_token_id", u32(1)},
          {"tokenizer.ggml.eos_token_id", u32(2)},
          {"tokenizer.ggml.add_bos_token", scalar(GgufType::BOOL, 1)},
          {"tokenizer.ggml.add_eos_token", scalar(GgufType::BOOL, 0)}};
}

// Every tokenizer.* key of `path`, after checking that our tokenizer accepts them; sets *vocab to its size.
std::vector<GgufKeyValue> copied_tokenizer_metadata(const std::string& path, int64_t* vocab) {
  const std::unique_ptr<GgufFile> g = GgufFile::open(path);
  if (!g->find("tokenizer.ggml.model")) throw Error(path + ": has no tokenizer (no tokenizer.ggml.model)");
  *vocab = Tokenizer::create(vocabulary_from_gguf(*g))->n_tokens();
  std::vector<GgufKeyValue> kvs;
  for (const GgufKeyValue& kv : g->metadata())
    if (kv.key.rfind("tokenizer.", 0) == 0) kvs.push_back(kv);
  return kvs;
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

// ---------------------------------------------------------------------------------------------------
// File size without writing (for --list): the GGUF layout of GgufWriter
// ---------------------------------------------------------------------------------------------------

struct SynthArgs {
  bool list = false;
  std::string preset, type, vocab_from, output;
  uint64_t seed = 42;
  int threads = 0;
};

constexpr uint64_t kAlignment = 32;

uint64_t align_up(uint64_t n) {
  return (n + kAlignment - 1) / kAlignment * kAlignment;
}

uint64_t value_bytes(const GgufValue& v) {
  switch (v.type) {
    case GgufType::UINT8:
    case GgufType::INT8:
    case GgufType::BOOL:
      return 1;
    case GgufType::UINT16:
    case GgufType::INT16:
      return 2;
    case GgufType::UINT32:
    case GgufType::INT32:
    case GgufType::FLOAT32:
      return 4;
    case GgufType::STRING:
      return 8 + v.str.size();
    case GgufType::ARRAY: {
      uint64_t n = 4 + 8;
      for (const GgufValue& e : v.array) n += value_bytes(e);
      return n;
    }
    default:
      return 8;
  }
}

// Exact for what run_synth writes: same keys, same tensors, same alignment.
uint64_t file_bytes(const std::vector<GgufKeyValue>& metadata, const Plan& plan) {
  uint64_t header = 4 + 4 + 8 + 8;
  for (const GgufKeyValue& kv : metadata) header += 8 + kv.key.size() + 4 + value_bytes(kv.value);
  uint64_t data = 0;
  for (const PlannedTensor& t : plan.tensors) {
    header += 8 + t.name.size() + 4 + 8 * t.shape.size() + 4 + 8;
    data += align_up(t.bytes());
  }
  return align_up(header) + data;
}

std::string human_bytes(uint64_t n) {
  const double b = static_cast<double>(n);
  if (b >= 1024.0 * 1024 * 1024) return fmt::format("{:.2f} GiB", b / (1024.0 * 1024 * 1024));
  return fmt::format("{:.1f} MiB", b / (1024.0 * 1024));
}

std::string human_count(int64_t n) {
  const double c = static_cast<double>(n);
  return c >= 1e9 ? fmt::format("{:.2f}B", c / 1e9) : fmt::format("{:.1f}M", c / 1e6);
}

void print_list() {
  const char* types[] = {"F32", "F16", "Q8_0", "Q4_0", "Q4_K_M"};
  fmt::print("{:<15} {:>5} {:>6} {:>8} {:>6} {:>7} {:>7} {:>7}", "preset", "dim", "layers", "heads/kv",
             "hidden", "vocab", "context", "params");
  for (const char* t : types) fmt::print(" {:>10}", t);
  fmt::print("  {}\n", "shapes of");
  for (const SynthPreset& p : synth_presets()) {
    std::vector<GgufKeyValue> metadata = synthetic_tokenizer_metadata(p.vocab);
    for (GgufKeyValue& kv : model_metadata(p, p.vocab, parse_quant_target("F32"), SynthArgs{}.seed))
      metadata.push_back(std::move(kv));
    fmt::print("{:<15} {:>5} {:>6} {:>8} {:>6} {:>7} {:>7} {:>7}", p.name, p.dim, p.n_layers,
               fmt::format("{}/{}", p.n_heads, p.n_kv_heads), p.hidden, p.vocab, p.context,
               human_count(synth_parameter_count(p, p.vocab)));
    for (const char* t : types)
      fmt::print(" {:>10}",
                 human_bytes(file_bytes(metadata, plan_tensors(p, p.vocab, parse_quant_target(t)))));
    std::string extra;
    if (p.tied) extra += ", tied embeddings";
    if (p.rope_base != 10000.0f) extra += fmt::format(", RoPE base {:g}", p.rope_base);
    if (p.llama3_rope_scale > 0)
      extra += fmt::format(", rope_freqs (x{:g} LLaMA 3 scaling)", p.llama3_rope_scale);
    fmt::print("  {}{}\n", p.model, extra);
  }
  fmt::print("file sizes include the synthetic vocabulary; any type of `synth --type` can be written\n");
}

// ---------------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------------

// Bytes written so far on stderr: a line redrawn in place on a terminal, else a plain line every 5%.
// Writes that finish within a second print nothing.
class WriteProgress {
 public:
  explicit WriteProgress(uint64_t total) : total_(total), tty_(isatty(STDERR_FILENO) != 0) {}

  void update(uint64_t done, const std::string& tensor) {
    const double elapsed = seconds();
    if (elapsed < 1.0) return;
    const int step = static_cast<int>(100.0 * static_cast<double>(done) / static_cast<double>(total_)) / 5;
    if (tty_ ? elapsed - last_print_ < 0.25 : step <= last_step_) return;
    last_step_ = step;
    last_print_ = elapsed;
    const double pct = 100.0 * static_cast<double>(done) / static_cast<double>(total_);
    const double left =
        done > 0 ? elapsed * static_cast<double>(total_ - done) / static_cast<double>(done) : 0;
    fmt::print(stderr, "{}synth: {:5.1f}% {} / {}, {:.0f} s elapsed, ~{:.0f} s left ({}){}",
               tty_ ? "\r\033[K" : "", pct, human_bytes(done), human_bytes(total_), elapsed, left, tensor,
               tty_ ? "" : "\n");
    std::fflush(stderr);
    printed_ = true;
  }
  void finish() {
    if (tty_ && printed_) fmt::print(stderr, "\r\033[K");
  }
  double seconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

 private:
  using Clock = std::chrono::steady_clock;
  uint64_t total_;
  bool tty_;
  Clock::time_point start_ = Clock::now();
  double last_print_ = 0;
  int last_step_ = 0;
  bool printed_ = false;
};

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

// Ctrl-C during a long write would leave OUT.tmp behind (the writer's destructor never runs): remove it from
// the signal handler, which may only call async-signal-safe functions (unlink, _exit).
char g_tmp_path[4096];

extern "C" void remove_tmp_and_exit(int sig) {
  ::unlink(g_tmp_path);
  ::_exit(128 + sig);
}

class RemoveTmpOnSignal {
 public:
  explicit RemoveTmpOnSignal(const std::string& tmp_path) {
    if (tmp_path.size() >= sizeof g_tmp_path) return;
    std::memcpy(g_tmp_path, tmp_path.c_str(), tmp_path.size() + 1);
    struct sigaction sa {};
    sa.sa_handler = remove_tmp_and_exit;
    sigemptyset(&sa.sa_mask);
    installed_ = sigaction(SIGINT, &sa, &old_int_) == 0 && sigaction(SIGTERM, &sa, &old_term_) == 0;
  }
  ~RemoveTmpOnSignal() {
    if (!installed_) return;
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  RemoveTmpOnSignal(const RemoveTmpOnSignal&) = delete;
  RemoveTmpOnSignal& operator=(const RemoveTmpOnSignal&) = delete;

 private:
  bool installed_ = false;
  struct sigaction old_int_ {
  }, old_term_{};
};

void run_synth(const SynthArgs& args) {
  if (args.list) {
    print_list();
    return;
  }
  if (args.preset.empty() || args.type.empty() || args.output.empty())
    throw Error("synth needs --preset, --type and -o (or --list)");
  const SynthPreset& preset = find_synth_preset(args.preset);
  const QuantTarget target = parse_quant_target(args.type);

  int64_t vocab = preset.vocab;
  std::vector<GgufKeyValue> tokenizer;
  if (!args.vocab_from.empty()) {
    tokenizer = copied_tokenizer_metadata(args.vocab_from, &vocab);
    if (vocab != preset.vocab)
      fmt::print(stderr, "synth: note: {} has {} tokens, so token_embd has {} rows, not the preset's {}\n",
                 args.vocab_from, vocab, vocab, preset.vocab);
  } else {
    tokenizer = synthetic_tokenizer_metadata(vocab);
  }

  const Plan plan = plan_tensors(preset, vocab, target);
  for (const auto& [key, count] : plan.fallbacks) {
    const auto& [wanted, used, row] = key;
    fmt::print(stderr, "synth: rows of {} do not fit {} blocks; {} tensor{} use {}\n", row, type_name(wanted),
               count, count == 1 ? "" : "s", type_name(used));
  }

  const RemoveTmpOnSignal cleanup(args.output + ".tmp");  // GgufWriter's temporary name
  GgufWriter writer(args.output, kAlignment);
  for (GgufKeyValue& kv : model_metadata(preset, vocab, target, args.seed))
    writer.set(kv.key, std::move(kv.value));
  for (GgufKeyValue& kv : tokenizer) writer.set(kv.key, std::move(kv.value));
  tokenizer.clear();
  uint64_t total = 0;
  for (const PlannedTensor& t : plan.tensors) {
    writer.declare_tensor(t.name, t.type, t.shape);
    total += t.bytes();
  }
  writer.write_header();

  const unsigned threads = args.threads > 0 ? static_cast<unsigned>(args.threads) : hardware_threads();
  ThreadPool pool(static_cast<int>(threads));
  WriteProgress progress(total);
  uint64_t written = 0;
  for (const PlannedTensor& t : plan.tensors)
    write_tensor(writer, t, preset, args.seed, pool, progress, written);
  writer.finish();
  progress.finish();
  fmt::print("wrote {}: {} ({}), {}, {} parameters, {}, seed {}, {:.1f} s, {} threads\n", args.output,
             preset.name, preset.model, target.name, human_count(synth_parameter_count(preset, vocab)),
             human_bytes(std::filesystem::file_size(args.output)), args.seed, progress.seconds(), threads);
}

}  // namespace

void register_synth_command(CLI::App& app) {
  auto args = std::make_shared<SynthArgs>();
  auto* cmd = app.add_subcommand("synth", "Write a random-weight model with the shapes of a real one");
  cmd->add_flag("--list", args->list, "list the presets with parameter counts and file sizes");
  cmd->add_option("--preset", args->preset, "model shapes (see --list)");
  cmd->add_option("--type", args->type, quant_target_names());
  cmd->add_option("--seed", args->seed, "random seed (the same seed writes the same bytes)")
      ->capture_default_str();
  cmd->add_option("--vocab-from", args->vocab_from, "copy the tokenizer from this GGUF file");
  cmd->add_option("-o,--output", args->output, "output GGUF file");
  cmd->add_option("-t,--threads", args->threads, "threads (default: all; the output does not depend on it)")
      ->check(CLI::Range(1, 1024));
  cmd->callback([args] { run_synth(*args); });
}

}  // namespace llamascope
