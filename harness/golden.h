// Golden numerics: llama.cpp's reference logits (golden/llamacpp/manifest.json), the tolerances per weight
// type (golden/tolerances.json), and the comparison of a logits matrix against a reference.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/tensor_type.h"

namespace llamascope {

struct LogitsComparison {
  double nmse = 0;  // sum of squared differences / sum of squared reference values
  double top1 = 0;  // fraction of rows whose argmax agrees, a near-tie in the reference counting as agreement
  double top1_strict = 0;  // fraction of rows whose argmax is the reference's exactly
  double max_abs_diff = 0;
  bool finite = true;  // no NaN or Inf in the compared logits
};

// A row agrees for `top1` when our argmax token's reference logit is within tie_margin of the reference's
// maximum: a reference near-tie is decided by float noise, not by correctness.
LogitsComparison compare_logits(std::span<const float> reference, std::span<const float> actual,
                                int64_t n_vocab, double tie_margin = 0);

struct GoldenTolerance {
  double nmse = 0;
  double top1 = 0;
  double tie_margin = 0;  // logits
};

struct GoldenCase {
  std::string model_path;   // absolute
  std::string logits_path;  // absolute
  std::vector<int32_t> tokens;
  int64_t n_positions = 0;
  int64_t n_vocab = 0;
  std::vector<int32_t> greedy_next;  // llama.cpp's greedy continuation (may be empty)
};

// The golden data folder: ./golden, else the source tree's; Error when neither has the manifest.
std::string default_golden_dir();

// Reads DIR/llamacpp/manifest.json; paths in it are relative to DIR. Throws Error on a malformed manifest.
std::vector<GoldenCase> load_golden_cases(const std::string& golden_dir);
// Limits for a model whose matmul weights are of `type_summary` (Model::weight_type_summary()).
// With kv_type F16, the `kv_f16` table's entry for the type wins where there is one.
GoldenTolerance golden_tolerance(const std::string& golden_dir, const std::string& type_summary,
                                 TensorType kv_type = TensorType::F32);
double golden_prefill_decode_limit(const std::string& golden_dir);
// llama.cpp's greedy continuation after a case's tokens against ours. Where the two part, the check passes
// only if our logits put the two tokens within `margin` of each other (a near-tie, which the logits'
// measured difference from llama.cpp's can decide either way); after that the sequences differ legitimately.
struct GreedyCheck {
  std::vector<int32_t> reference, ours;
  int matched = 0;       // leading tokens that agree
  int diverged_at = -1;  // first step that differs, -1 when none does
  double gap = 0;        // there: our logit of our token minus our logit of llama.cpp's
  double margin = 0;     // the largest logit difference from llama.cpp's seen while decoding the case
  bool passed() const { return diverged_at < 0 || gap <= margin; }
};

// One case run through one kernel set, in one prefill batch and one token at a time, against the reference.
struct GoldenResult {
  std::string model_path;
  std::string weight_types;  // Model::weight_type_summary()
  std::string kernels;       // canonical kernel-set spec
  int threads = 1;
  LogitsComparison prefill;  // vs llama.cpp
  LogitsComparison decode;   // vs llama.cpp
  LogitsComparison prefill_vs_decode;
  GoldenTolerance tolerance;
  double prefill_decode_limit = 0;
  GreedyCheck greedy;  // empty reference when the manifest has none
  bool passed() const;
};
GoldenResult run_golden_case(const std::string& golden_dir, const GoldenCase& c, const std::string& kernels,
                             int threads, TensorType kv_type = TensorType::F32);

// The reference logits of a case (n_positions x n_vocab floats); Error if the file size does not match.
std::vector<float> read_reference_logits(const GoldenCase& c);

}  // namespace llamascope
