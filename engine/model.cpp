#include "engine/model.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "base/error.h"

namespace llamascope {
namespace {

bool starts_with_gguf_magic(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::memcmp(magic, "GGUF", 4) == 0;
}

// Reads `key` as a positive int that fits the engine's int sizes.
int positive_int(const GgufFile& gguf, const std::string& key, std::optional<int> fallback = std::nullopt) {
  std::optional<int64_t> v = gguf.get_int(key);
  if (!v) {
    if (fallback) return *fallback;
    throw Error(gguf.path() + ": missing metadata key '" + key + "'");
  }
  if (*v <= 0 || *v > (int64_t(1) << 30))
    throw Error(gguf.path() + ": metadata '" + key + "' = " + std::to_string(*v) + " is out of range");
  return static_cast<int>(*v);
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

Weight gguf_weight(const GgufFile& gguf, const std::string& name, std::vector<int64_t> expected,
                   bool required = true) {
  const GgufTensorInfo* t = gguf.find_tensor(name);
  if (!t) {
    if (!required) return Weight{};
    throw Error(gguf.path() + ": missing tensor '" + name + "'");
  }
  std::vector<int64_t> shape = t->shape;
  while (shape.size() > expected.size() && shape.back() == 1) shape.pop_back();
  if (shape != expected)
    throw Error(gguf.path() + ": tensor '" + name + "' has shape " + shape_text(t->shape) + ", expected " +
                shape_text(expected));
  Weight w;
  w.name = name;
  w.type = t->type;
  w.data = t->data;
  w.cols = expected[0];
  w.rows = expected.size() > 1 ? expected[1] : 1;
  w.row_bytes = row_bytes(t->type, w.cols);
  return w;
}

void require_float_type(const std::string& path, const Weight& w) {
  if (w.type != TensorType::F32 && w.type != TensorType::F16 && w.type != TensorType::BF16)
    throw Error(path + ": tensor '" + w.name + "' is " + type_name(w.type) +
                "; norm weights must be F32, F16 or BF16");
}

void load_gguf(Model& m) {
  m.gguf = GgufFile::open(m.path);
  const GgufFile& g = *m.gguf;
  ModelConfig& c = m.config;
  c.architecture = g.get_string("general.architecture").value_or("");
  if (c.architecture != "llama")
    throw Error(m.path + ": architecture '" + c.architecture + "' is not supported (only 'llama')");
  const std::string a = c.architecture + ".";
  c.dim = positive_int(g, a + "embedding_length");
  c.n_layers = positive_int(g, a + "block_count");
  c.n_heads = positive_int(g, a + "attention.head_count");
  c.n_kv_heads = positive_int(g, a + "attention.head_count_kv", c.n_heads);
  c.hidden_dim = positive_int(g, a + "feed_forward_length");
  c.context_length = positive_int(g, a + "context_length", 2048);
  if (c.n_layers > 4096)
    throw Error(m.path + ": block_count " + std::to_string(c.n_layers) + " is implausible");
  if (c.n_heads % c.n_kv_heads != 0)
    throw Error(m.path + ": head_count " + std::to_string(c.n_heads) +
                " is not a multiple of head_count_kv " + std::to_string(c.n_kv_heads));
  if (c.dim % c.n_heads != 0 && !g.find(a + "attention.key_length"))
    throw Error(m.path + ": embedding_length is not a multiple of head_count");
  c.head_dim = positive_int(g, a + "attention.key_length", c.dim / c.n_heads);
  if (positive_int(g, a + "attention.value_length", c.head_dim) != c.head_dim)
    throw Error(m.path + ": attention.value_length differs from key_length (not supported)");
  if (c.head_dim % 2 != 0) throw Error(m.path + ": head dimension must be even for RoPE");
  c.rope_dims = positive_int(g, a + "rope.dimension_count", c.head_dim);
  if (c.rope_dims > c.head_dim || c.rope_dims % 2 != 0)
    throw Error(m.path + ": rope.dimension_count " + std::to_string(c.rope_dims) +
                " does not fit the head dimension");
  c.rms_eps = static_cast<float>(g.get_float(a + "attention.layer_norm_rms_epsilon").value_or(1e-5));
  c.rope_freq_base = static_cast<float>(g.get_float(a + "rope.freq_base").value_or(10000.0));
  if (!(c.rms_eps > 0) || !(c.rope_freq_base > 0))
    throw Error(m.path + ": rms epsilon and rope base must be > 0");

  const GgufTensorInfo* embd = g.find_tensor("token_embd.weight");
  if (!embd) throw Error(m.path + ": missing tensor 'token_embd.weight'");
  if (embd->shape.size() != 2 || embd->shape[1] <= 0 || embd->shape[1] > (int64_t(1) << 24))
    throw Error(m.path + ": tensor 'token_embd.weight' has shape " + shape_text(embd->shape) +
                ", expected [dim, vocab]");
  c.vocab_size = static_cast<int>(embd->shape[1]);

  const int64_t dim = c.dim, q = c.q_dim(), kv = c.kv_dim(), hidden = c.hidden_dim, vocab = c.vocab_size;
  m.token_embd = gguf_weight(g, "token_embd.weight", {dim, vocab});
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    LayerWeights L;
    L.attn_norm = gguf_weight(g, p + "attn_norm.weight", {dim});
    L.attn_q = gguf_weight(g, p + "attn_q.weight", {dim, q});
    L.attn_k = gguf_weight(g, p + "attn_k.weight", {dim, kv});
    L.attn_v = gguf_weight(g, p + "attn_v.weight", {dim, kv});
    L.attn_output = gguf_weight(g, p + "attn_output.weight", {q, dim});
    L.ffn_norm = gguf_weight(g, p + "ffn_norm.weight", {dim});
    L.ffn_gate = gguf_weight(g, p + "ffn_gate.weight", {dim, hidden});
    L.ffn_up = gguf_weight(g, p + "ffn_up.weight", {dim, hidden});
    L.ffn_down = gguf_weight(g, p + "ffn_down.weight", {hidden, dim});
    require_float_type(m.path, L.attn_norm);
    require_float_type(m.path, L.ffn_norm);
    m.layers.push_back(std::move(L));
  }
  m.output_norm = gguf_weight(g, "output_norm.weight", {dim});
  require_float_type(m.path, m.output_norm);
  m.output = gguf_weight(g, "output.weight", {dim, vocab}, /*required=*/false);
  c.tied_embeddings = !m.output.present();
  if (c.tied_embeddings) m.output = m.token_embd;

  if (g.find_tensor("rope_freqs.weight")) {
    Weight f = gguf_weight(g, "rope_freqs.weight", {c.rope_dims / 2});
    if (f.type != TensorType::F32) throw Error(m.path + ": tensor 'rope_freqs.weight' must be F32");
    const float* factors = static_cast<const float*>(f.data);
    m.rope_freq_factors.assign(factors, factors + c.rope_dims / 2);
    for (float v : m.rope_freq_factors)
      if (!(v > 0)) throw Error(m.path + ": tensor 'rope_freqs.weight' holds a non-positive factor");
  }

  // Norm gains are copied out of the mapping: reading them through it would map their repacked neighbours
  // back in (docs/performance.md, "Why the engine releases file pages").
  std::vector<Weight*> small{&m.output_norm};
  for (LayerWeights& L : m.layers) small.insert(small.end(), {&L.attn_norm, &L.ffn_norm});
  for (Weight* w : small) {
    const auto* bytes = static_cast<const uint8_t*>(w->data);
    m.owned_weight_bytes.emplace_back(bytes, bytes + w->bytes());
    m.release_weight_pages(*w);
    w->data = m.owned_weight_bytes.back().data();
  }

  if (g.find("tokenizer.ggml.model")) {
    m.tokenizer = Tokenizer::create(vocabulary_from_gguf(g));
    if (m.tokenizer->n_tokens() > c.vocab_size)
      throw Error(m.path + ": the tokenizer has " + std::to_string(m.tokenizer->n_tokens()) +
                  " tokens but the model only " + std::to_string(c.vocab_size));
  }
}

Weight f32_weight(const std::string& name, const float* data, int64_t rows, int64_t cols) {
  Weight w;
  w.name = name;
  w.type = TensorType::F32;
  w.data = data;
  w.rows = rows;
  w.cols = cols;
  w.row_bytes = static_cast<size_t>(cols) * sizeof(float);
  return w;
}

std::string default_llama2c_tokenizer(const std::string& model_path, int vocab_size) {
  const std::filesystem::path dir = std::filesystem::path(model_path).parent_path();
  for (const std::string& name :
       {std::string("tokenizer.bin"), "tok" + std::to_string(vocab_size) + ".bin"}) {
    std::error_code ec;
    const std::filesystem::path candidate = dir / name;
    if (std::filesystem::is_regular_file(candidate, ec)) return candidate.string();
  }
  return "";
}

void load_llama2c(Model& m, const std::string& tokenizer_path) {
  try {
    m.checkpoint = load_llama2c_checkpoint(m.path);
  } catch (const Error& e) {
    // Not GGUF either: say both, so a GGUF with a damaged magic is not reported as a bad checkpoint only.
    const std::string message = e.what(), prefix = m.path + ": ";
    throw Error(prefix + "no GGUF magic, and not a valid llama2.c checkpoint: " +
                (message.rfind(prefix, 0) == 0 ? message.substr(prefix.size()) : message));
  }
  const Llama2cCheckpoint& ck = *m.checkpoint;
  ModelConfig& c = m.config;
  c.architecture = "llama";
  c.dim = ck.dim;
  c.n_layers = ck.n_layers;
  c.n_heads = ck.n_heads;
  c.n_kv_heads = ck.n_kv_heads;
  c.head_dim = ck.dim / ck.n_heads;
  c.rope_dims = c.head_dim;
  c.hidden_dim = ck.hidden_dim;
  c.vocab_size = ck.vocab_size;
  c.context_length = ck.seq_len;
  c.rms_eps = 1e-5f;  // llama2.c's run.c hard-codes these two
  c.rope_freq_base = 10000.0f;
  c.tied_embeddings = ck.shared_classifier;

  const int64_t dim = c.dim, kv = c.kv_dim(), hidden = c.hidden_dim;
  m.token_embd = f32_weight("token_embedding", ck.token_embedding, c.vocab_size, dim);
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string p = "layer" + std::to_string(l) + ".";
    LayerWeights L;
    L.attn_norm = f32_weight(p + "rms_att", ck.rms_att + l * dim, 1, dim);
    L.attn_q = f32_weight(p + "wq", ck.wq + l * dim * dim, dim, dim);
    L.attn_k = f32_weight(p + "wk", ck.wk + l * kv * dim, kv, dim);
    L.attn_v = f32_weight(p + "wv", ck.wv + l * kv * dim, kv, dim);
    L.attn_output = f32_weight(p + "wo", ck.wo + l * dim * dim, dim, dim);
    L.ffn_norm = f32_weight(p + "rms_ffn", ck.rms_ffn + l * dim, 1, dim);
    L.ffn_gate = f32_weight(p + "w1", ck.w1 + l * hidden * dim, hidden, dim);
    L.ffn_down = f32_weight(p + "w2", ck.w2 + l * dim * hidden, dim, hidden);
    L.ffn_up = f32_weight(p + "w3", ck.w3 + l * hidden * dim, hidden, dim);
    m.layers.push_back(std::move(L));
  }
  m.output_norm = f32_weight("rms_final", ck.rms_final, 1, dim);
  m.output = ck.shared_classifier ? m.token_embd : f32_weight("wcls", ck.wcls, c.vocab_size, dim);

  const std::string tok =
      tokenizer_path.empty() ? default_llama2c_tokenizer(m.path, c.vocab_size) : tokenizer_path;
  if (!tok.empty()) m.tokenizer = Tokenizer::create(vocabulary_from_llama2c(tok, c.vocab_size));
}

}  // namespace

std::vector<const Weight*> Model::all_weights() const {
  std::vector<const Weight*> list{&token_embd};
  for (const LayerWeights& L : layers)
    for (const Weight* w : L.all()) list.push_back(w);
  list.push_back(&output_norm);
  if (!config.tied_embeddings) list.push_back(&output);
  return list;
}

uint64_t Model::parameter_count() const {
  uint64_t n = 0;
  for (const Weight* w : all_weights()) n += static_cast<uint64_t>(w->rows) * w->cols;
  return n;
}

uint64_t Model::weight_bytes() const {
  uint64_t n = 0;
  for (const Weight* w : all_weights()) n += w->bytes();
  return n;
}

std::string Model::weight_type_summary() const {
  std::map<std::string, int> counts;
  for (const Weight* w : all_weights())
    if (w->rows > 1) ++counts[type_name(w->type)];
  if (counts.size() == 1) return counts.begin()->first;
  std::string s;
  for (const auto& [name, n] : counts) s += (s.empty() ? "" : ",") + name + ":" + std::to_string(n);
  return s;
}

namespace {

void require_regular_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw Error(path + ": is a directory, not a model file");
  if (!std::filesystem::exists(path, ec)) throw Error(path + ": no such file");
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path, const std::string& tokenizer_path) {
  require_regular_file(path);
  if (starts_with_gguf_magic(path)) {
    const std::unique_ptr<GgufFile> gguf = GgufFile::open(path);
    if (!gguf->find("tokenizer.ggml.model"))
      throw Error(path + ": has no tokenizer (no tokenizer.ggml.model)");
    return Tokenizer::create(vocabulary_from_gguf(*gguf));
  }
  std::unique_ptr<Model> model = load_model(path, tokenizer_path);
  if (!model->tokenizer)
    throw Error(path + ": no tokenizer (give -z tokenizer.bin for a llama2.c checkpoint)");
  return std::move(model->tokenizer);
}

std::unique_ptr<Model> load_model(const std::string& path, const std::string& tokenizer_path) {
  auto model = std::make_unique<Model>();
  model->path = path;
  require_regular_file(path);
  if (starts_with_gguf_magic(path)) {
    model->format = ModelFormat::gguf;
    load_gguf(*model);
    if (!tokenizer_path.empty())
      throw Error(tokenizer_path + ": -z is for llama2.c checkpoints; GGUF files carry their own tokenizer");
  } else {
    model->format = ModelFormat::llama2c;
    load_llama2c(*model, tokenizer_path);
  }
  return model;
}

}  // namespace llamascope
