// What the commands that time a model share about its input: the bundled model used when no -m is given,
// and the fixed-seed random prompt (as llama-bench feeds one) so every command times the same tokens.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/model.h"

namespace llamascope {

// golden/models/stories260K-f32.gguf, looked for in the current directory, the source tree and above the
// executable; Error naming -m when it is in none of them.
std::string bundled_model_path();

// The model's BOS token (1 when its tokenizer has none, as llama2.c models).
int32_t bos_token(const Model& model);

// n tokens: the model's BOS (1 when it has none), then tokens drawn uniformly from the vocabulary with a
// fixed seed.
std::vector<int32_t> random_prompt(const Model& model, int n);

}  // namespace llamascope
