// The presets of `llamascope synth` (real models' shapes) and the numbers derived from a preset alone.
#include <fmt/format.h>

#include <cmath>
#include <numbers>

#include "base/error.h"
#include "harness/synth.h"

namespace llamascope {

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

}  // namespace llamascope
