// Inside `llamascope synth`: what a synthesized GGUF holds (the tensor plan with each tensor's type and
// scale, the model and tokenizer metadata) and how one tensor's rows are generated and written.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "engine/gguf.h"
#include "harness/quant_target.h"
#include "harness/synth.h"
#include "base/tensor_type.h"

namespace llamascope {
class ThreadPool;
}

namespace llamascope::synth {

class WriteProgress;

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

// Every tensor of preset `p` with a `vocab`-token vocabulary, typed as `target` asks (a type whose blocks
// do not fit a row falls back to one that does, counted in `fallbacks`).
Plan plan_tensors(const SynthPreset& p, int64_t vocab, const QuantTarget& target);

// general.* and llama.* keys, plus the preset and seed the file was made from.
std::vector<GgufKeyValue> model_metadata(const SynthPreset& p, int64_t vocab, const QuantTarget& target,
                                         uint64_t seed);
// tokenizer.* keys of synthetic_vocab(vocab).
std::vector<GgufKeyValue> synthetic_tokenizer_metadata(int64_t vocab);
// Every tokenizer.* key of `path`, after checking that our tokenizer accepts them; sets *vocab to its size.
std::vector<GgufKeyValue> copied_tokenizer_metadata(const std::string& path, int64_t* vocab);

// Generates tensor `t` chunk by chunk on `pool` and streams it to `writer`; `written` counts the bytes.
void write_tensor(GgufWriter& writer, const PlannedTensor& t, const SynthPreset& p, uint64_t seed,
                  ThreadPool& pool, WriteProgress& progress, uint64_t& written);

// GGUF metadata values.
inline GgufValue scalar(GgufType type, uint64_t u, double f = 0, std::string str = "") {
  GgufValue g;
  g.type = type;
  g.u = u;
  g.i = static_cast<int64_t>(u);
  g.f = f;
  g.str = std::move(str);
  return g;
}
inline GgufValue u32(uint64_t v) {
  return scalar(GgufType::UINT32, v);
}
inline GgufValue f32(double v) {
  return scalar(GgufType::FLOAT32, 0, v);
}
inline GgufValue str(std::string v) {
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

}  // namespace llamascope::synth
