// A loaded LLaMA model: hyper-parameters, typed weight views into the memory-mapped file (the norm gains of a
// GGUF copied out of it), and the tokenizer when the file (or -z) provides one. Everything is validated here,
// before any forward pass.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/gguf.h"
#include "engine/llama2c.h"
#include "engine/tokenizer.h"
#include "kernels/backend.h"

namespace llamascope {

enum class ModelFormat { gguf, llama2c };

struct ModelConfig {
  std::string architecture = "llama";
  int dim = 0;  // embedding width
  int n_layers = 0;
  int n_heads = 0;
  int n_kv_heads = 0;  // < n_heads: grouped-query (1: multi-query)
  int head_dim = 0;
  int rope_dims = 0;   // leading dims of each head that RoPE rotates
  int hidden_dim = 0;  // feed-forward width
  int vocab_size = 0;
  int context_length = 0;  // training context; the KV cache is sized from it unless asked otherwise
  float rms_eps = 1e-5f;
  float rope_freq_base = 10000.0f;
  bool tied_embeddings = false;

  int q_dim() const { return n_heads * head_dim; }
  int kv_dim() const { return n_kv_heads * head_dim; }
};

struct LayerWeights {
  Weight attn_norm;    // (dim)
  Weight attn_q;       // (q_dim, dim)
  Weight attn_k;       // (kv_dim, dim)
  Weight attn_v;       // (kv_dim, dim)
  Weight attn_output;  // (dim, q_dim)
  Weight ffn_norm;     // (dim)
  Weight ffn_gate;     // (hidden, dim)
  Weight ffn_up;       // (hidden, dim)
  Weight ffn_down;     // (dim, hidden)

  // The layer's weights in the order above.
  std::array<const Weight*, 9> all() const {
    return {&attn_norm, &attn_q, &attn_k, &attn_v, &attn_output, &ffn_norm, &ffn_gate, &ffn_up, &ffn_down};
  }
};

class Model {
 public:
  std::string path;
  ModelFormat format = ModelFormat::gguf;
  ModelConfig config;

  Weight token_embd;  // (vocab, dim)
  std::vector<LayerWeights> layers;
  Weight output_norm;                    // (dim)
  Weight output;                         // (vocab, dim); the token embedding itself when tied
  std::vector<float> rope_freq_factors;  // rope_dims / 2 factors from `rope_freqs`, empty when absent

  std::unique_ptr<Tokenizer> tokenizer;  // null when the file has none and no -z was given

  std::unique_ptr<GgufFile> gguf;                       // set for GGUF models
  std::deque<std::vector<uint8_t>> owned_weight_bytes;  // weights copied out of the mapping (norm gains)
  std::optional<Llama2cCheckpoint> checkpoint;          // set for llama2.c checkpoints

  // Unmaps the file pages of a weight no longer read through the mapping: repacked by a backend, copied out
  // (norm gains), or an embedding table between lookups. A later read faults them back in from the page
  // cache. No effect for llama2.c checkpoints.
  void release_weight_pages(const Weight& w) const {
    if (gguf) gguf->release_pages(w.data, w.bytes());
  }

  // Every distinct weight tensor (the tied output counted once), in file order.
  std::vector<const Weight*> all_weights() const;
  uint64_t parameter_count() const;
  uint64_t weight_bytes() const;
  // "Q4_0" when every matmul weight has one type, else e.g. "Q4_K:154,Q6_K:23,F32:45".
  std::string weight_type_summary() const;
  const char* format_name() const { return format == ModelFormat::gguf ? "gguf" : "llama2c"; }
};

// Opens a GGUF or llama2.c checkpoint (by content: GGUF starts with "GGUF"). tokenizer_path: llama2.c
// tokenizer.bin for checkpoints (default: tokenizer.bin or tok<vocab>.bin beside the model). Throws Error.
std::unique_ptr<Model> load_model(const std::string& path, const std::string& tokenizer_path = "");

// Only the tokenizer of a model file: a GGUF's tokenizer.ggml.* metadata (a vocabulary-only GGUF works), or
// a llama2.c checkpoint's tokenizer.bin. Throws Error when there is none.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path, const std::string& tokenizer_path = "");

}  // namespace llamascope
