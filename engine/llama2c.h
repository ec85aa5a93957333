// llama2.c's legacy checkpoint format (`run.c`'s .bin: a 7 x int32 header, then float32 weights in a fixed
// order) and its `tokenizer.bin`. Both are validated against the file size before anything is used.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/mapped_file.h"

namespace llamascope {

struct Llama2cCheckpoint {
  int32_t dim = 0;
  int32_t hidden_dim = 0;
  int32_t n_layers = 0;
  int32_t n_heads = 0;
  int32_t n_kv_heads = 0;
  int32_t vocab_size = 0;  // absolute value of the header's (negative there = untied classifier)
  int32_t seq_len = 0;
  bool shared_classifier = true;

  std::unique_ptr<MappedFile> file;
  // Pointers into the mapping; shapes as llama2.c's TransformerWeights documents them.
  const float* token_embedding = nullptr;  // (vocab_size, dim)
  const float* rms_att = nullptr;          // (n_layers, dim)
  const float* wq = nullptr;               // (n_layers, dim, dim)      = n_heads * head_size rows
  const float* wk = nullptr;               // (n_layers, kv_dim, dim)
  const float* wv = nullptr;               // (n_layers, kv_dim, dim)
  const float* wo = nullptr;               // (n_layers, dim, dim)
  const float* rms_ffn = nullptr;          // (n_layers, dim)
  const float* w1 = nullptr;               // (n_layers, hidden_dim, dim)  gate
  const float* w2 = nullptr;               // (n_layers, dim, hidden_dim)  down
  const float* w3 = nullptr;               // (n_layers, hidden_dim, dim)  up
  const float* rms_final = nullptr;        // (dim)
  const float* wcls = nullptr;             // (vocab_size, dim); = token_embedding when shared
};

// Throws Error("PATH: ...") for a short/long file, non-positive or inconsistent hyper-parameters
// (n_heads % n_kv_heads, dim % n_heads), or sizes whose products overflow.
Llama2cCheckpoint load_llama2c_checkpoint(const std::string& path);

struct Llama2cVocab {
  uint32_t max_token_length = 0;
  std::vector<std::string> pieces;  // raw bytes of each token, e.g. "<0x0A>", " the"
  std::vector<float> scores;
};

// Reads exactly vocab_size entries; throws Error for a truncated file or absurd lengths.
Llama2cVocab load_llama2c_tokenizer(const std::string& path, int32_t vocab_size);

}  // namespace llamascope
