// Compact KL-divergence references: per scored position, the base model's largest logits (at least `min_k`,
// more until the left-out probability mass is at most `tail_mass`), the row's log-sum-exp and the logit of
// the token that came next, plus the evaluated tokens. `golden kld --ref` computes the KL divergence of any
// model against it without the base model. The byte layout is in docs/numerics.md.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "harness/kld.h"

namespace llamascope {

struct KldReference {
  uint32_t n_vocab = 0;
  uint32_t ctx = 0;  // tokens per chunk
  uint32_t n_chunks = 0;
  uint32_t first = 0;  // scored rows of a chunk: first .. ctx-2 (each predicts the token after it)
  uint32_t min_k = 0;
  double tail_mass = 0;
  std::string base_sha256;      // of the base model file
  std::vector<int32_t> tokens;  // ctx * n_chunks, the evaluated tokens (BOS already placed)

  // Per scored position, in order: where its entries start in ids/logits, and its count.
  std::vector<uint64_t> offsets;
  std::vector<uint32_t> counts;
  std::vector<double> log_sum_exps;
  std::vector<float> next_logits;
  std::vector<int32_t> ids;
  std::vector<float> logits;

  size_t positions() const { return counts.size(); }
  TopLogits position(size_t i) const;
  // Appends one position: the entries of `row` chosen by min_k and tail_mass, largest first.
  void add_position(std::span<const float> row, int32_t next);
};

void write_kld_reference(const std::string& path, const KldReference& ref);  // atomically
// Throws Error naming the file for anything malformed: bad magic or version, sizes that disagree with the
// file's length, ids outside the vocabulary, counts of zero or over the vocabulary.
KldReference read_kld_reference(const std::string& path);

}  // namespace llamascope
