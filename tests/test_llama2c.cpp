// llama2.c checkpoint and tokenizer.bin readers: the bundled stories260K model and tok512 tokenizer, weight
// pointers checked against the GGUF conversion of the same model, and hand-made checkpoints with and without
// a separate classifier.
#include <gtest/gtest.h>

#include "engine/gguf.h"
#include "engine/llama2c.h"
#include "tests/support/formats_test_util.h"

namespace llamascope {
namespace {

using formats_test::Bytes;
using formats_test::golden;
using formats_test::read_bytes;
using formats_test::ScratchDir;
using formats_test::write_bytes;

struct Header {
  int32_t dim, hidden, layers, heads, kv_heads, vocab, seq;
};

// Float counts of each array in llama2.c's order, written out independently of the loader.
struct Layout {
  std::vector<std::pair<std::string, uint64_t>> arrays;
  uint64_t total() const {
    uint64_t n = 0;
    for (const auto& a : arrays) n += a.second;
    return n;
  }
  uint64_t offset_of(const std::string& name) const {
    uint64_t n = 0;
    for (const auto& a : arrays) {
      if (a.first == name) return n;
      n += a.second;
    }
    throw std::runtime_error("no array " + name);
  }
};

Layout layout_of(const Header& h) {
  const uint64_t dim = h.dim, hidden = h.hidden, L = h.layers, vocab = std::abs(h.vocab);
  const uint64_t head = dim / h.heads, kv = dim * h.kv_heads / h.heads;
  Layout l;
  l.arrays = {{"token_embedding", vocab * dim},
              {"rms_att", L * dim},
              {"wq", L * dim * dim},
              {"wk", L * kv * dim},
              {"wv", L * kv * dim},
              {"wo", L * dim * dim},
              {"rms_ffn", L * dim},
              {"w1", L * hidden * dim},
              {"w2", L * dim * hidden},
              {"w3", L * hidden * dim},
              {"rms_final", dim},
              {"freq_cis_real", h.seq * head / 2},
              {"freq_cis_imag", h.seq * head / 2}};
  if (h.vocab < 0) l.arrays.push_back({"wcls", vocab * dim});
  return l;
}

// A checkpoint whose k-th float holds the value k, so each weight pointer reveals its offset.
std::vector<uint8_t> numbered_checkpoint(const Header& h, int64_t extra_floats = 0) {
  Bytes b;
  for (int32_t v : {h.dim, h.hidden, h.layers, h.heads, h.kv_heads, h.vocab, h.seq}) b.pod<int32_t>(v);
  const int64_t n = static_cast<int64_t>(layout_of(h).total()) + extra_floats;
  for (int64_t k = 0; k < n; ++k) b.pod<float>(static_cast<float>(k));
  return b.data;
}

TEST(Llama2c, Stories260KHeaderAndSize) {
  const Llama2cCheckpoint ck = load_llama2c_checkpoint(golden("models/stories260K.bin"));
  EXPECT_EQ(ck.dim, 64);
  EXPECT_EQ(ck.hidden_dim, 172);
  EXPECT_EQ(ck.n_layers, 5);
  EXPECT_EQ(ck.n_heads, 8);
  EXPECT_EQ(ck.n_kv_heads, 4);
  EXPECT_EQ(ck.vocab_size, 512);
  EXPECT_EQ(ck.seq_len, 512);
  EXPECT_TRUE(ck.shared_classifier);
  EXPECT_EQ(ck.wcls, ck.token_embedding);
  ASSERT_NE(ck.file, nullptr);
  EXPECT_EQ(reinterpret_cast<const uint8_t*>(ck.token_embedding), ck.file->data() + 28);
  const Layout l = layout_of({64, 172, 5, 8, 4, 512, 512});
  EXPECT_EQ(ck.file->size(), 28 + 4 * l.total());
  EXPECT_EQ(ck.rms_final - ck.token_embedding, static_cast<ptrdiff_t>(l.offset_of("rms_final")));
  EXPECT_EQ(ck.wk - ck.token_embedding, static_cast<ptrdiff_t>(l.offset_of("wk")));
}

// llama.cpp's converter copies the embedding, norms and feed-forward weights unchanged (it permutes only
// wq/wk for its RoPE layout), so those must match the GGUF conversion float for float.
TEST(Llama2c, Stories260KWeightsMatchTheGgufConversion) {
  const Llama2cCheckpoint ck = load_llama2c_checkpoint(golden("models/stories260K.bin"));
  std::unique_ptr<GgufFile> g = GgufFile::open(golden("models/stories260K-f32.gguf"));
  const auto expect_same = [&](const float* ours, const std::string& name, int64_t count) {
    const GgufTensorInfo* t = g->find_tensor(name);
    ASSERT_NE(t, nullptr) << name;
    ASSERT_EQ(t->elements(), count) << name;
    EXPECT_EQ(std::memcmp(ours, t->data, static_cast<size_t>(count) * 4), 0) << name;
  };
  const int64_t dim = 64, hidden = 172, kv = 32;
  expect_same(ck.token_embedding, "token_embd.weight", 512 * dim);
  expect_same(ck.rms_final, "output_norm.weight", dim);
  for (int l = 0; l < 5; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    expect_same(ck.rms_att + l * dim, p + "attn_norm.weight", dim);
    expect_same(ck.rms_ffn + l * dim, p + "ffn_norm.weight", dim);
    expect_same(ck.wv + l * kv * dim, p + "attn_v.weight", kv * dim);
    expect_same(ck.wo + l * dim * dim, p + "attn_output.weight", dim * dim);
    expect_same(ck.w1 + l * hidden * dim, p + "ffn_gate.weight", hidden * dim);
    expect_same(ck.w2 + l * dim * hidden, p + "ffn_down.weight", dim * hidden);
    expect_same(ck.w3 + l * hidden * dim, p + "ffn_up.weight", hidden * dim);
  }
}

class Llama2cLayout : public ::testing::TestWithParam<bool> {};

TEST_P(Llama2cLayout, PointersFollowLlama2cOrder) {
  const bool shared = GetParam();
  const Header h{8, 12, 2, 4, 2, shared ? 10 : -10, 6};
  ScratchDir dir;
  const std::string path = dir.file("tiny.bin");
  write_bytes(path, numbered_checkpoint(h));
  const Llama2cCheckpoint ck = load_llama2c_checkpoint(path);
  EXPECT_EQ(ck.vocab_size, 10);
  EXPECT_EQ(ck.shared_classifier, shared);
  const Layout l = layout_of(h);
  const std::pair<const float*, const char*> arrays[] = {
      {ck.token_embedding, "token_embedding"},
      {ck.rms_att, "rms_att"},
      {ck.wq, "wq"},
      {ck.wk, "wk"},
      {ck.wv, "wv"},
      {ck.wo, "wo"},
      {ck.rms_ffn, "rms_ffn"},
      {ck.w1, "w1"},
      {ck.w2, "w2"},
      {ck.w3, "w3"},
      {ck.rms_final, "rms_final"},
  };
  for (const auto& [ptr, name] : arrays) EXPECT_EQ(*ptr, static_cast<float>(l.offset_of(name))) << name;
  if (shared)
    EXPECT_EQ(ck.wcls, ck.token_embedding);
  else
    EXPECT_EQ(*ck.wcls, static_cast<float>(l.offset_of("wcls")));
}

INSTANTIATE_TEST_SUITE_P(SharedAndSeparateClassifier, Llama2cLayout, ::testing::Bool());

TEST(Llama2c, Tok512Tokenizer) {
  const std::string path = golden("models/tok512.bin");
  const Llama2cVocab v = load_llama2c_tokenizer(path, 512);
  ASSERT_EQ(v.pieces.size(), 512u);
  ASSERT_EQ(v.scores.size(), 512u);
  EXPECT_EQ(v.max_token_length, 7u);
  EXPECT_EQ(v.pieces[0], "<unk>");
  EXPECT_EQ(v.pieces[1], "\n<s>\n");
  EXPECT_EQ(v.pieces[2], "\n</s>\n");
  EXPECT_EQ(v.pieces[3 + 0x0A], "<0x0A>");
  size_t longest = 0;
  for (const std::string& p : v.pieces) longest = std::max(longest, p.size());
  EXPECT_EQ(longest, v.max_token_length);

  // The scores are the file's floats: the first entry's score sits right after max_token_length.
  const std::vector<uint8_t> bytes = read_bytes(path);
  EXPECT_EQ(v.scores[0], formats_test::peek<float>(bytes, 4));
  // Asking for fewer tokens reads a prefix; trailing bytes are ignored as llama2.c ignores them.
  const Llama2cVocab prefix = load_llama2c_tokenizer(path, 300);
  EXPECT_EQ(prefix.pieces.size(), 300u);
  EXPECT_EQ(prefix.pieces[299], v.pieces[299]);
}

TEST(Llama2c, TokenizerWithTrailingBytesAndEmptyPieces) {
  ScratchDir dir;
  const std::string path = dir.file("tok.bin");
  Bytes b;
  b.pod<uint32_t>(3);
  b.pod<float>(-1.5f).pod<int32_t>(0);
  b.pod<float>(2.0f).pod<int32_t>(3).raw("abc");
  b.raw("trailing junk");
  write_bytes(path, b.data);
  const Llama2cVocab v = load_llama2c_tokenizer(path, 2);
  EXPECT_EQ(v.pieces, (std::vector<std::string>{"", "abc"}));
  EXPECT_EQ(v.scores, (std::vector<float>{-1.5f, 2.0f}));
}

}  // namespace
}  // namespace llamascope
