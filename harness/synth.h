// Random-weight LLaMA models with the shapes of real ones (`llamascope synth`): the preset table and the
// parts of a synthesized file that are worth checking on their own (parameter counts, the LLaMA 3 RoPE
// factors, the synthetic SentencePiece vocabulary, the random rows).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace llamascope {

struct SynthPreset {
  const char* name;
  const char* model;  // the real model whose shapes these are
  int dim, n_layers, n_heads, n_kv_heads, hidden, vocab, context;
  float rope_base, rms_eps;
  bool tied;                // no output.weight: the classifier is token_embd
  float llama3_rope_scale;  // > 0: write rope_freqs.weight with LLaMA 3.1/3.2 scaling by this factor
  int head_dim() const { return dim / n_heads; }
};

const std::vector<SynthPreset>& synth_presets();
// Error listing the preset names when there is none called `name`.
const SynthPreset& find_synth_preset(const std::string& name);

// Learned parameters (every tensor but rope_freqs) with a vocabulary of `vocab` tokens.
int64_t synth_parameter_count(const SynthPreset& p, int64_t vocab);

// Meta's LLaMA 3 RoPE scaling as rope_freqs.weight stores it: per frequency pair i < head_dim/2, the divisor
// of base^(-2i/head_dim). High frequencies (wavelength under original_context / high_freq_factor) keep 1,
// low ones (over original_context / low_freq_factor) get `factor`, and the band between interpolates.
std::vector<float> llama3_rope_factors(int head_dim, double base, double factor, double low_freq_factor,
                                       double high_freq_factor, double original_context);

// A SentencePiece ("llama") vocabulary of exactly n tokens (n >= 259 + 1): <unk>, <s>, </s>, the 256 byte
// tokens <0x00>..<0xFF>, then distinct pieces of "▁" and letters, shortest first, with decreasing scores.
struct SynthVocab {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;  // llama.cpp's token types: 1 normal, 2 unknown, 3 control, 6 byte
};
SynthVocab synthetic_vocab(int64_t n);

// Row `row` of tensor `tensor_name` for `seed`: n samples of N(0, std^2). The stream depends only on these
// arguments, so a file is the same whatever the thread count.
void synth_normal_row(uint64_t seed, const std::string& tensor_name, int64_t row, float std, float* out,
                      int64_t n);

}  // namespace llamascope
