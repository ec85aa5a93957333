// The bundled model's path and the fixed-seed random prompt (model_inputs.h).
#include "harness/model_inputs.h"

#include <algorithm>
#include <filesystem>
#include <random>

#include "base/error.h"

namespace llamascope {

std::string bundled_model_path() {
  const std::string relative = "golden/models/stories260K-f32.gguf";
  std::vector<std::filesystem::path> candidates = {std::filesystem::path(relative),
                                                   std::filesystem::path(LLAMASCOPE_SOURCE_DIR) / relative};
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec)
    for (std::filesystem::path dir = exe.parent_path(); !dir.empty() && dir != dir.root_path();
         dir = dir.parent_path())
      candidates.push_back(dir / relative);
  for (const auto& candidate : candidates)
    if (std::filesystem::exists(candidate, ec)) return candidate.lexically_normal().string();
  throw Error("the bundled model " + relative + " was not found (looked in the current directory, " +
              LLAMASCOPE_SOURCE_DIR + " and above the executable); give -m MODEL");
}

int32_t bos_token(const Model& model) {
  return model.tokenizer && model.tokenizer->vocab().bos >= 0 ? model.tokenizer->vocab().bos : 1;
}

std::vector<int32_t> random_prompt(const Model& model, int n) {
  const int vocab = model.config.vocab_size;
  const int32_t bos = bos_token(model);
  std::vector<int32_t> prompt(static_cast<size_t>(n));
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int32_t> pick(0, vocab - 1);
  for (int32_t& t : prompt) t = pick(rng);
  if (!prompt.empty()) prompt[0] = std::min(bos, vocab - 1);
  return prompt;
}

}  // namespace llamascope
