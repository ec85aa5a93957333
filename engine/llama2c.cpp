// llama2.c checkpoint and tokenizer.bin readers. Sizes are computed in 64 bits with overflow checks and
// compared with the file size before any pointer into the mapping is formed.
#include "engine/llama2c.h"

#include <cstring>
#include <optional>

#include "base/error.h"

namespace llamascope {
namespace {

constexpr uint64_t kHeaderBytes = 7 * sizeof(int32_t);
// No real vocabulary has pieces anywhere near this long; the cap stops a corrupt length from becoming a
// large allocation even when the file is big enough to hold it.
constexpr int32_t kMaxPieceBytes = 1 << 16;

// Sums products of non-negative factors; any overflow makes the whole total invalid.
class CheckedSize {
 public:
  void add_product(std::initializer_list<uint64_t> factors) {
    uint64_t product = 1;
    for (uint64_t f : factors)
      if (__builtin_mul_overflow(product, f, &product)) overflow_ = true;
    if (__builtin_add_overflow(total_, product, &total_)) overflow_ = true;
  }
  std::optional<uint64_t> total() const { return overflow_ ? std::nullopt : std::optional<uint64_t>(total_); }

 private:
  uint64_t total_ = 0;
  bool overflow_ = false;
};

}  // namespace

Llama2cCheckpoint load_llama2c_checkpoint(const std::string& path) {
  Llama2cCheckpoint ck;
  ck.file = std::make_unique<MappedFile>(path);
  const uint64_t size = ck.file->size();
  const auto fail = [&](const std::string& what) -> Error { return Error(path + ": " + what); };
  if (size < kHeaderBytes)
    throw fail("too short for a llama2.c checkpoint (" + std::to_string(size) +
               " bytes, the header alone is " + std::to_string(kHeaderBytes) + ")");

  int32_t header[7];
  std::memcpy(header, ck.file->data(), sizeof header);
  const char* names[7] = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"};
  // A negative vocab_size is llama2.c's flag for an unshared classifier; its magnitude is the vocabulary.
  const int64_t raw_vocab = header[5];
  ck.shared_classifier = raw_vocab > 0;
  const int64_t vocab = raw_vocab < 0 ? -raw_vocab : raw_vocab;
  for (int k = 0; k < 7; ++k) {
    const int64_t value = k == 5 ? vocab : header[k];
    if (value <= 0 || value > INT32_MAX)
      throw fail("not a llama2.c checkpoint: header " + std::string(names[k]) + " = " +
                 std::to_string(header[k]) + " (must be positive)");
  }
  ck.dim = header[0];
  ck.hidden_dim = header[1];
  ck.n_layers = header[2];
  ck.n_heads = header[3];
  ck.n_kv_heads = header[4];
  ck.vocab_size = static_cast<int32_t>(vocab);
  ck.seq_len = header[6];

  if (ck.n_kv_heads > ck.n_heads || ck.n_heads % ck.n_kv_heads != 0)
    throw fail("n_heads = " + std::to_string(ck.n_heads) +
               " is not a multiple of n_kv_heads = " + std::to_string(ck.n_kv_heads));
  if (ck.dim % ck.n_heads != 0)
    throw fail("dim = " + std::to_string(ck.dim) +
               " is not a multiple of n_heads = " + std::to_string(ck.n_heads));
  const uint64_t head_size = static_cast<uint64_t>(ck.dim / ck.n_heads);
  if (head_size % 2 != 0) throw fail("head size " + std::to_string(head_size) + " is odd (RoPE needs pairs)");

  const uint64_t dim = ck.dim, hidden = ck.hidden_dim, layers = ck.n_layers, seq = ck.seq_len;
  const uint64_t kv_dim = dim * ck.n_kv_heads / ck.n_heads;  // dim < 2^31, so no overflow
  const uint64_t vocab_u = static_cast<uint64_t>(vocab);

  // Float offset of each array in llama2.c's order; `floats` grows as each array is laid out.
  CheckedSize floats;
  const auto place = [&](std::initializer_list<uint64_t> factors) {
    const std::optional<uint64_t> at = floats.total();
    floats.add_product(factors);
    return at.value_or(0);
  };
  const uint64_t o_embedding = place({vocab_u, dim});
  const uint64_t o_rms_att = place({layers, dim});
  const uint64_t o_wq = place({layers, dim, dim});
  const uint64_t o_wk = place({layers, kv_dim, dim});
  const uint64_t o_wv = place({layers, kv_dim, dim});
  const uint64_t o_wo = place({layers, dim, dim});
  const uint64_t o_rms_ffn = place({layers, dim});
  const uint64_t o_w1 = place({layers, hidden, dim});
  const uint64_t o_w2 = place({layers, dim, hidden});
  const uint64_t o_w3 = place({layers, hidden, dim});
  const uint64_t o_rms_final = place({dim});
  place({seq, head_size / 2});  // freq_cis_real: unused, RoPE is recomputed
  place({seq, head_size / 2});  // freq_cis_imag
  const uint64_t o_wcls = place({ck.shared_classifier ? 0 : vocab_u, dim});

  std::optional<uint64_t> expected_bytes;
  if (const std::optional<uint64_t> n = floats.total()) {
    uint64_t bytes;
    if (!__builtin_mul_overflow(*n, uint64_t{4}, &bytes) &&
        !__builtin_add_overflow(bytes, kHeaderBytes, &bytes))
      expected_bytes = bytes;
  }
  if (!expected_bytes)
    throw fail("hyper-parameters imply a checkpoint larger than 2^64 bytes (corrupt header?)");
  if (*expected_bytes != size)
    throw fail("size mismatch: the header (dim " + std::to_string(ck.dim) + ", hidden_dim " +
               std::to_string(ck.hidden_dim) + ", n_layers " + std::to_string(ck.n_layers) + ", n_heads " +
               std::to_string(ck.n_heads) + ", n_kv_heads " + std::to_string(ck.n_kv_heads) +
               ", vocab_size " + std::to_string(header[5]) + ", seq_len " + std::to_string(ck.seq_len) +
               ") implies " + std::to_string(*expected_bytes) + " bytes, the file has " +
               std::to_string(size) + " bytes");

  // The mapping is page-aligned and the header is 28 bytes, so every array is float-aligned.
  const float* base = reinterpret_cast<const float*>(ck.file->data() + kHeaderBytes);
  ck.token_embedding = base + o_embedding;
  ck.rms_att = base + o_rms_att;
  ck.wq = base + o_wq;
  ck.wk = base + o_wk;
  ck.wv = base + o_wv;
  ck.wo = base + o_wo;
  ck.rms_ffn = base + o_rms_ffn;
  ck.w1 = base + o_w1;
  ck.w2 = base + o_w2;
  ck.w3 = base + o_w3;
  ck.rms_final = base + o_rms_final;
  ck.wcls = ck.shared_classifier ? ck.token_embedding : base + o_wcls;
  return ck;
}

Llama2cVocab load_llama2c_tokenizer(const std::string& path, int32_t vocab_size) {
  const MappedFile file(path);
  const auto fail = [&](const std::string& what) -> Error { return Error(path + ": " + what); };
  if (vocab_size <= 0) throw fail("vocabulary size " + std::to_string(vocab_size) + " must be positive");
  const uint8_t* data = file.data();
  const uint64_t size = file.size();
  uint64_t pos = 0;
  const auto read = [&](void* out, uint64_t n, const std::string& what) {
    if (size - pos < n)
      throw fail("truncated tokenizer: the file ends inside " + what + " (offset " + std::to_string(pos) +
                 ", file size " + std::to_string(size) + ")");
    std::memcpy(out, data + pos, n);
    pos += n;
  };

  Llama2cVocab vocab;
  read(&vocab.max_token_length, sizeof(uint32_t), "max_token_length");
  // Each entry takes at least 8 bytes (score and length); refuse a vocabulary the file cannot hold before
  // reserving memory for it.
  if (static_cast<uint64_t>(vocab_size) > (size - pos) / 8)
    throw fail("truncated tokenizer: " + std::to_string(vocab_size) + " tokens need at least " +
               std::to_string(uint64_t(vocab_size) * 8) + " bytes after the header, the file has " +
               std::to_string(size - pos));
  vocab.pieces.reserve(static_cast<size_t>(vocab_size));
  vocab.scores.reserve(static_cast<size_t>(vocab_size));
  for (int32_t id = 0; id < vocab_size; ++id) {
    const std::string what = "token " + std::to_string(id);
    float score;
    int32_t length;
    read(&score, sizeof score, "the score of " + what);
    read(&length, sizeof length, "the length of " + what);
    if (length < 0 || length > kMaxPieceBytes)
      throw fail(what + " has length " + std::to_string(length) + " (must be 0.." +
                 std::to_string(kMaxPieceBytes) + ")");
    if (static_cast<uint64_t>(length) > size - pos)
      throw fail("truncated tokenizer: " + what + " has length " + std::to_string(length) + " but only " +
                 std::to_string(size - pos) + " bytes remain");
    vocab.pieces.emplace_back(reinterpret_cast<const char*>(data + pos), static_cast<size_t>(length));
    vocab.scores.push_back(score);
    pos += static_cast<uint64_t>(length);
  }
  // Bytes after the last entry are ignored, as llama2.c's run.c ignores them.
  return vocab;
}

}  // namespace llamascope
