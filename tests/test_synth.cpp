// `llamascope synth` pieces: preset shapes give the real models' published parameter counts, LLaMA 3.2's
// rope_freqs match Meta's scaling formula (values computed independently in Python), the synthetic
// vocabulary is a valid SentencePiece vocabulary our tokenizer loads and uses, and random rows are
// reproducible, independent per row and of the requested standard deviation.
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "base/error.h"
#include "engine/tokenizer.h"
#include "harness/synth.h"

namespace llamascope {
namespace {

TEST(Synth, PresetParameterCountsMatchTheRealModels) {
  // Published counts (Hugging Face model cards / safetensors totals).
  const std::pair<const char*, int64_t> known[] = {
      {"tinyllama-1.1b", 1100048384}, {"llama-3.2-1b", 1235814400}, {"llama-2-7b", 6738415616},
      {"mistral-7b", 7241732096},     {"llama-3-8b", 8030261248},   {"smollm-135m", 134515008},
  };
  for (const auto& [name, count] : known) {
    const SynthPreset& p = find_synth_preset(name);
    EXPECT_EQ(synth_parameter_count(p, p.vocab), count) << name;
  }
  EXPECT_EQ(synth_presets().size(), 9u);
  EXPECT_THROW(find_synth_preset("llama-9-9b"), Error);
}

TEST(Synth, Llama3RopeFactorsFollowMetasScaling) {
  const SynthPreset& p = find_synth_preset("llama-3.2-1b");
  ASSERT_EQ(p.head_dim(), 64);
  const std::vector<float> f =
      llama3_rope_factors(p.head_dim(), p.rope_base, p.llama3_rope_scale, 1, 4, 8192);
  ASSERT_EQ(f.size(), 32u);
  // Wavelengths under 8192/4 keep their frequency, over 8192 are divided by 32, the three between blend.
  for (int i = 0; i <= 14; ++i) EXPECT_EQ(f[i], 1.0f) << i;
  EXPECT_NEAR(f[15], 1.6513292457638984, 1e-6);
  EXPECT_NEAR(f[16], 3.2922621029408843, 1e-6);
  EXPECT_NEAR(f[17], 9.666728978753293, 1e-5);
  for (int i = 18; i < 32; ++i) EXPECT_EQ(f[i], 32.0f) << i;
}

TEST(Synth, SyntheticVocabularyIsAValidSentencePieceVocabulary) {
  for (int64_t n : {300, 32000, 128256}) {
    const SynthVocab v = synthetic_vocab(n);
    ASSERT_EQ(static_cast<int64_t>(v.tokens.size()), n);
    ASSERT_EQ(v.scores.size(), v.tokens.size());
    ASSERT_EQ(v.types.size(), v.tokens.size());
    EXPECT_EQ(std::set<std::string>(v.tokens.begin(), v.tokens.end()).size(), v.tokens.size()) << n;
    EXPECT_EQ(v.tokens[0], "<unk>");
    EXPECT_EQ(v.types[0], 2);
    EXPECT_EQ(v.types[1], 3);
    EXPECT_EQ(v.types[2], 3);
    EXPECT_EQ(v.tokens[3 + 0x0A], "<0x0A>");
    EXPECT_EQ(v.types[3 + 0xFF], 6);
    for (size_t i = 260; i < v.scores.size(); ++i) ASSERT_LT(v.scores[i], v.scores[i - 1]) << i;
  }
  EXPECT_THROW(synthetic_vocab(259), Error);

  const SynthVocab v = synthetic_vocab(32000);
  Vocabulary vocab;
  vocab.kind = Vocabulary::Kind::spm;
  vocab.tokens = v.tokens;
  vocab.scores = v.scores;
  for (int32_t t : v.types) vocab.types.push_back(static_cast<TokenType>(t));
  vocab.bos = 1;
  vocab.eos = 2;
  vocab.unk = 0;
  vocab.add_bos = true;
  vocab.add_space_prefix = true;
  const std::unique_ptr<Tokenizer> tok = Tokenizer::create(vocab);
  const std::string text = "Once upon a time, there was a little dog. Über 3€!\n";
  const std::vector<int32_t> ids = tok->encode(text, /*add_bos=*/true);
  ASSERT_GT(ids.size(), 2u);
  EXPECT_EQ(ids[0], 1);
  EXPECT_LT(ids.size(), text.size());  // words merge into pieces longer than a byte
  const std::string decoded = tok->decode(ids);
  EXPECT_TRUE(decoded == text || decoded == " " + text) << decoded;  // byte fallback covers "Ü", "€"
}

TEST(Synth, RandomRowsAreReproducibleIndependentAndScaled) {
  const int64_t n = 4097;
  std::vector<float> a(n), b(n), c(n), d(n);
  synth_normal_row(42, "blk.0.attn_q.weight", 7, 0.5f, a.data(), n);
  synth_normal_row(42, "blk.0.attn_q.weight", 7, 0.5f, b.data(), n);
  synth_normal_row(42, "blk.0.attn_q.weight", 8, 0.5f, c.data(), n);
  synth_normal_row(43, "blk.0.attn_q.weight", 7, 0.5f, d.data(), n);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(a, d);
  double sum = 0, sq = 0, cross = 0;
  for (int64_t i = 0; i < n; ++i) sum += a[i], sq += double(a[i]) * a[i], cross += double(a[i]) * c[i];
  EXPECT_NEAR(sum / n, 0.0, 0.05);
  EXPECT_NEAR(std::sqrt(sq / n), 0.5, 0.02);
  EXPECT_NEAR(cross / sq, 0.0, 0.06);  // rows are uncorrelated
}

}  // namespace
}  // namespace llamascope
