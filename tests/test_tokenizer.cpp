// Tokenizer tests: llama.cpp's tokenizer test vectors (SPM and GPT-2 BPE), the manifest's reference token
// ids for the bundled models, pre-tokenizer splits, decoding rules, Utf8Stream, and error handling.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "base/error.h"
#include "engine/gguf.h"
#include "engine/tokenizer.h"
#include "engine/unicode.h"

namespace llamascope {
namespace {

const std::string kGolden = LLAMASCOPE_GOLDEN_DIR;

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::unique_ptr<Tokenizer> gguf_tokenizer(const std::string& path) {
  const std::unique_ptr<GgufFile> gguf = GgufFile::open(path);
  return Tokenizer::create(vocabulary_from_gguf(*gguf));
}

std::unique_ptr<Tokenizer> tok512() {
  return Tokenizer::create(vocabulary_from_llama2c(kGolden + "/models/tok512.bin", 512));
}

// llama.cpp's .inp format: each input is followed by "\n__ggml_vocab_test__\n".
std::vector<std::string> read_test_inputs(const std::string& path) {
  const std::string all = read_bytes(path);
  const std::string separator = "\n__ggml_vocab_test__\n";
  std::vector<std::string> inputs;
  size_t pos = 0;
  while (pos < all.size()) {
    const size_t end = all.find(separator, pos);
    if (end == std::string::npos) throw std::runtime_error(path + ": text after the last separator");
    inputs.push_back(all.substr(pos, end - pos));
    pos = end + separator.size();
  }
  return inputs;
}

std::vector<std::vector<int32_t>> read_expected_ids(const std::string& path) {
  std::istringstream in(read_bytes(path));
  std::vector<std::vector<int32_t>> lines;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::vector<int32_t> ids;
    int32_t id;
    while (fields >> id) ids.push_back(id);
    lines.push_back(ids);
  }
  return lines;
}

void check_test_vectors(const std::string& name) {
  const std::string base = kGolden + "/tokenizer/" + name;
  const auto tokenizer = gguf_tokenizer(base);
  const std::vector<std::string> inputs = read_test_inputs(base + ".inp");
  const std::vector<std::vector<int32_t>> expected = read_expected_ids(base + ".out");
  ASSERT_EQ(inputs.size(), expected.size());
  ASSERT_GT(inputs.size(), 40u);
  for (size_t i = 0; i < inputs.size(); ++i)
    EXPECT_EQ(tokenizer->encode(inputs[i], false), expected[i])
        << name << " input " << i << ": " << inputs[i];
}

std::vector<int32_t> manifest_ids(const std::string& key) {
  const auto manifest = nlohmann::json::parse(read_bytes(kGolden + "/llamacpp/manifest.json"));
  return manifest.at(key).get<std::vector<int32_t>>();
}

std::string manifest_text() {
  return nlohmann::json::parse(read_bytes(kGolden + "/llamacpp/manifest.json")).at("text").get<std::string>();
}

TEST(Tokenizer, LlamaSpmTestVectors) {
  check_test_vectors("ggml-vocab-llama-spm.gguf");
}

TEST(Tokenizer, Gpt2BpeTestVectors) {
  check_test_vectors("ggml-vocab-gpt-2.gguf");
}

// Vocabularies with user-defined tokens (token type 4), matched whole in raw text before the merges.
TEST(Tokenizer, Phi3SpmTestVectors) {  // SentencePiece; </s> is user-defined
  check_test_vectors("ggml-vocab-phi-3.gguf");
}

TEST(Tokenizer, MptBpeTestVectors) {  // byte-level BPE; runs of 2..24 spaces are user-defined tokens
  check_test_vectors("ggml-vocab-mpt.gguf");
}

TEST(Tokenizer, UserDefinedTokensMatchLlamaCpp) {
  // Expected ids: llama.cpp c392e50 `llama-tokenize -m VOCAB --ids --no-bos` on the same strings. Phi-3 shows
  // SentencePiece's space prefix after a whole token and Phi-3's stripping of the whitespace after one.
  struct Case {
    const char* vocab;
    const char* text;
    std::vector<int32_t> ids;
  };
  const Case cases[] = {
      {"ggml-vocab-phi-3.gguf", "Hello</s>world and  </s> x", {15043, 2, 3186, 322, 259, 2, 921}},
      {"ggml-vocab-phi-3.gguf", "</s></s> a</s>", {2, 2, 263, 2}},
      {"ggml-vocab-phi-3.gguf", "tab\t</s>\tend", {4434, 12, 2, 1095}},
      {"ggml-vocab-mpt.gguf",
       "Hello</s>world and  </s> x",
       {12092, 870, 84, 31, 10186, 285, 50276, 870, 84, 31, 1269}},
      {"ggml-vocab-mpt.gguf", "   indented    code  ", {50275, 527, 8006, 50274, 3211, 50276}},
      {"ggml-vocab-mpt.gguf", "tab\t</s>\tend", {8476, 186, 870, 84, 31, 186, 423}},
  };
  for (const Case& c : cases)
    EXPECT_EQ(gguf_tokenizer(kGolden + "/tokenizer/" + c.vocab)->encode(c.text, false), c.ids)
        << c.vocab << ": " << c.text;
}

TEST(Tokenizer, Llama2cTokenizerMatchesManifest) {
  EXPECT_EQ(tok512()->encode(manifest_text(), true), manifest_ids("tokens_tok512"));
}

TEST(Tokenizer, Stories260KGgufVocabularyMatchesManifest) {
  EXPECT_EQ(gguf_tokenizer(kGolden + "/models/stories260K-f32.gguf")->encode(manifest_text(), true),
            manifest_ids("tokens_tok512"));
}

TEST(Tokenizer, Llama2VocabularyMatchesManifest) {
  EXPECT_EQ(gguf_tokenizer(kGolden + "/models/llama-2-tiny-random.gguf")->encode(manifest_text(), true),
            manifest_ids("tokens_llama2"));
}

TEST(Tokenizer, VocabularyMetadata) {
  const auto spm = gguf_tokenizer(kGolden + "/tokenizer/ggml-vocab-llama-spm.gguf");
  EXPECT_EQ(spm->vocab().kind, Vocabulary::Kind::spm);
  EXPECT_EQ(spm->n_tokens(), 32000);
  EXPECT_EQ(spm->vocab().bos, 1);
  EXPECT_EQ(spm->vocab().eos, 2);
  EXPECT_EQ(spm->vocab().unk, 0);
  EXPECT_TRUE(spm->vocab().add_bos);
  EXPECT_TRUE(spm->vocab().add_space_prefix);
  EXPECT_TRUE(spm->is_end_of_generation(2));
  EXPECT_FALSE(spm->is_end_of_generation(1));

  const auto bpe = gguf_tokenizer(kGolden + "/tokenizer/ggml-vocab-gpt-2.gguf");
  EXPECT_EQ(bpe->vocab().kind, Vocabulary::Kind::bpe);
  EXPECT_EQ(bpe->vocab().pre, "gpt-2");
  EXPECT_EQ(bpe->vocab().eos, 50256);
  EXPECT_FALSE(bpe->vocab().add_space_prefix);
  EXPECT_TRUE(bpe->is_end_of_generation(50256));

  const auto llama2c = tok512();
  EXPECT_TRUE(llama2c->vocab().llama2c_spaces);
  EXPECT_TRUE(llama2c->is_end_of_generation(1));  // llama2.c's run.c stops at BOS
  EXPECT_TRUE(llama2c->is_end_of_generation(2));
  EXPECT_FALSE(llama2c->is_end_of_generation(3));
}

TEST(Tokenizer, EmptyTextGivesOnlyBos) {
  EXPECT_EQ(tok512()->encode("", true), std::vector<int32_t>{1});
  EXPECT_TRUE(tok512()->encode("", false).empty());
  EXPECT_TRUE(gguf_tokenizer(kGolden + "/tokenizer/ggml-vocab-gpt-2.gguf")->encode("", false).empty());
}

TEST(Tokenizer, SpmRoundTripsTestInputs) {
  for (const std::string name : {"ggml-vocab-llama-spm.gguf"}) {
    const auto tokenizer = gguf_tokenizer(kGolden + "/tokenizer/" + name);
    for (const std::string& text : read_test_inputs(kGolden + "/tokenizer/" + name + ".inp")) {
      // After BOS the dummy-prefix space is dropped, so the text comes back exactly.
      EXPECT_EQ(tokenizer->decode(tokenizer->encode(text, true)), text);
      // Without BOS the dummy prefix stays.
      if (!text.empty()) EXPECT_EQ(tokenizer->decode(tokenizer->encode(text, false)), " " + text);
    }
  }
}

TEST(Tokenizer, BpeRoundTripsTestInputsAndArbitraryBytes) {
  const auto tokenizer = gguf_tokenizer(kGolden + "/tokenizer/ggml-vocab-gpt-2.gguf");
  for (const std::string& text : read_test_inputs(kGolden + "/tokenizer/ggml-vocab-gpt-2.gguf.inp"))
    EXPECT_EQ(tokenizer->decode(tokenizer->encode(text, false)), text);
  // Byte-level BPE covers every byte, so even ill-formed UTF-8 survives.
  const std::string bad_utf8 = "ab\xFF\xFE c\xE2\x82 \xC3(";
  EXPECT_EQ(tokenizer->decode(tokenizer->encode(bad_utf8, false)), bad_utf8);
}

TEST(Tokenizer, Llama2cRoundTripAndByteFallback) {
  const auto tokenizer = tok512();
  const std::string text = manifest_text() + "\nNew line: \xE4\xB8\xAD\xE6\x96\x87 \xF0\x9F\x98\x81!";
  const std::vector<int32_t> ids = tokenizer->encode(text, true);
  EXPECT_EQ(tokenizer->decode(ids), text);
  // tok512 has no CJK pieces: U+4E2D must come out as its three UTF-8 bytes, each as token byte + 3.
  const std::vector<int32_t> cjk = tokenizer->encode("\xE4\xB8\xAD", false);
  ASSERT_EQ(cjk.size(), 4u);  // dummy-prefix space, then the three bytes
  EXPECT_EQ(tokenizer->vocab().tokens[cjk[0]], " ");
  EXPECT_EQ(cjk[1], 0xE4 + 3);
  EXPECT_EQ(cjk[2], 0xB8 + 3);
  EXPECT_EQ(cjk[3], 0xAD + 3);
}

TEST(Tokenizer, SpmByteFallbackInGguf) {
  const auto tokenizer = gguf_tokenizer(kGolden + "/models/stories260K-f32.gguf");
  const std::vector<int32_t> ids = tokenizer->encode("\xE4\xB8\xAD", false);
  ASSERT_EQ(ids.size(), 4u);
  EXPECT_EQ(tokenizer->vocab().tokens[ids[1]], "<0xE4>");
  EXPECT_EQ(tokenizer->vocab().tokens[ids[2]], "<0xB8>");
  EXPECT_EQ(tokenizer->vocab().tokens[ids[3]], "<0xAD>");
  EXPECT_EQ(tokenizer->decode(ids), " \xE4\xB8\xAD");
}

TEST(Tokenizer, PieceRules) {
  const auto llama2c = tok512();
  const std::vector<int32_t> once = llama2c->encode("Once", false);
  ASSERT_EQ(once.size(), 1u);
  EXPECT_EQ(llama2c->vocab().tokens[once[0]], " Once");
  EXPECT_EQ(llama2c->piece(1, once[0]), "Once");   // after BOS the leading space goes
  EXPECT_EQ(llama2c->piece(5, once[0]), " Once");  // elsewhere it stays
  EXPECT_EQ(llama2c->piece(-1, once[0]), " Once");
  EXPECT_EQ(llama2c->piece(5, 0x0A + 3), "\n");  // <0x0A>
  EXPECT_EQ(llama2c->piece(1, 0x20 + 3), " ");   // a byte token's space is a real space, kept after BOS
  EXPECT_EQ(llama2c->piece(5, 1), "");           // control tokens print nothing
  EXPECT_EQ(llama2c->piece(5, 2), "");

  const auto spm = gguf_tokenizer(kGolden + "/tokenizer/ggml-vocab-llama-spm.gguf");
  EXPECT_EQ(spm->vocab().tokens[920], "\xE2\x96\x81how");
  EXPECT_EQ(spm->piece(100, 920), " how");
  EXPECT_EQ(spm->piece(1, 920), "how");
  EXPECT_EQ(spm->piece(100, 198), "\xC3");  // <0xC3>: the raw byte

  const auto bpe = gguf_tokenizer(kGolden + "/tokenizer/ggml-vocab-gpt-2.gguf");
  EXPECT_EQ(bpe->piece(-1, 50256), "");
  EXPECT_EQ(bpe->piece(-1, 995), " world");     // "Ġworld"
  EXPECT_EQ(bpe->piece(50256, 995), " world");  // no BOS rule for byte-level BPE
  EXPECT_EQ(bpe->piece(-1, 198), "\n");         // "Ċ"
}

TEST(Tokenizer, OutOfRangeIdsThrow) {
  const auto tokenizer = tok512();
  EXPECT_THROW(tokenizer->piece(-1, 512), Error);
  EXPECT_THROW(tokenizer->piece(-1, -1), Error);
  const std::vector<int32_t> bad = {1, 100, 999};
  EXPECT_THROW(tokenizer->decode(bad), Error);

  Vocabulary v = tokenizer->vocab();
  v.bos = 512;
  EXPECT_THROW(Tokenizer::create(v), Error);
  v = tokenizer->vocab();
  v.end_of_generation.push_back(1000);
  EXPECT_THROW(Tokenizer::create(v), Error);
  v = tokenizer->vocab();
  v.scores.pop_back();
  EXPECT_THROW(Tokenizer::create(v), Error);
}

TEST(Tokenizer, UnsupportedPreTokenizerIsNamed) {
  Vocabulary v = gguf_tokenizer(kGolden + "/tokenizer/ggml-vocab-gpt-2.gguf")->vocab();
  v.pre = "qwen2";
  try {
    Tokenizer::create(v);
    FAIL() << "no error for an unsupported pre-tokenizer";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("qwen2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(bpe_pre_tokenize("x", "nope"), Error);
}

// Writes a vocabulary-only GGUF with the given tokenizer metadata.
std::string write_vocab_gguf(const std::string& name, const std::string& model, const std::string& pre,
                             int64_t bos) {
  const std::string path = testing::TempDir() + "/" + name;
  GgufWriter writer(path);
  writer.set_string("general.architecture", "llama");
  writer.set_string("tokenizer.ggml.model", model);
  if (!pre.empty()) writer.set_string("tokenizer.ggml.pre", pre);
  GgufValue tokens;
  tokens.type = GgufType::ARRAY;
  tokens.elem_type = GgufType::STRING;
  for (const char* t : {"<unk>", "<s>", "</s>", "a", "b", "a b"}) {
    GgufValue s;
    s.type = GgufType::STRING;
    s.str = t;
    tokens.array.push_back(s);
  }
  writer.set("tokenizer.ggml.tokens", tokens);
  GgufValue merges = tokens;
  merges.array.resize(1);
  merges.array[0].str = "a b";
  writer.set("tokenizer.ggml.merges", merges);
  writer.set_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(bos));
  writer.write_header();
  writer.finish();
  return path;
}

void expect_gguf_error(const std::string& path, const std::string& must_mention) {
  try {
    const auto gguf = GgufFile::open(path);
    Tokenizer::create(vocabulary_from_gguf(*gguf));
    ADD_FAILURE() << path << ": no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(must_mention), std::string::npos) << e.what();
  }
}

TEST(Tokenizer, GgufMetadataErrors) {
  expect_gguf_error(write_vocab_gguf("tok-bert.gguf", "bert", "", 1), "bert");
  expect_gguf_error(write_vocab_gguf("tok-pre.gguf", "gpt2", "deepseek-coder", 1), "deepseek-coder");
  expect_gguf_error(write_vocab_gguf("tok-bos.gguf", "llama", "", 6), "bos_token_id");
  // And the well-formed variants load.
  const auto gguf = GgufFile::open(write_vocab_gguf("tok-ok.gguf", "gpt2", "gpt-2", 0xFFFFFFFFu));
  const auto tokenizer = Tokenizer::create(vocabulary_from_gguf(*gguf));
  EXPECT_EQ(tokenizer->vocab().bos, -1);  // the "none" sentinel
}

TEST(Tokenizer, Gpt2PreTokenizer) {
  // Expected splits from Python's `regex` module with GPT-2's pattern.
  const std::vector<std::string> expected = {"I",        "'",     "M",  " here",  ",",  " we", "'", "Ve",
                                             " 1234567", " cats", "!!", "\n\n  ", "\t", "end", " "};
  EXPECT_EQ(bpe_pre_tokenize("I'M here, we'Ve 1234567 cats!!\n\n  \tend ", "gpt-2"), expected);
  const std::vector<std::string> unicode = {
      "Hello", "\u00a0", "\u043c\u0438\u0440", " \u4e2d\u6587", " \u00bd", "x", " ", " (", "ok", ")", "\r\n"};
  EXPECT_EQ(bpe_pre_tokenize("Hello\u00a0\u043c\u0438\u0440 \u4e2d\u6587 \u00bdx  (ok)\r\n", "default"),
            unicode);
}

TEST(Tokenizer, Llama3PreTokenizer) {
  // Expected splits from Python's `regex` module with LLaMA 3's pattern.
  const std::vector<std::string> expected = {"I",   "'M", " here", ",",      " we", "'Ve",   " ", "123",
                                             "456", "7",  " cats", "!!\n\n", "  ",  "\tend", " "};
  EXPECT_EQ(bpe_pre_tokenize("I'M here, we'Ve 1234567 cats!!\n\n  \tend ", "llama-bpe"), expected);
  const std::vector<std::string> unicode = {
      "Hello", "\u00a0\u043c\u0438\u0440", " \u4e2d\u6587", " ", "\u00bd", "x", " ", " (", "ok", ")\r\n"};
  EXPECT_EQ(bpe_pre_tokenize("Hello\u00a0\u043c\u0438\u0440 \u4e2d\u6587 \u00bdx  (ok)\r\n", "llama-bpe"),
            unicode);
}

TEST(Tokenizer, LongInputsEncodeAndDecode) {
  // A long text without spaces (one SPM word, one pre-token) and a long ordinary text; a quadratic merge
  // loop would take minutes here.
  const auto spm = gguf_tokenizer(kGolden + "/tokenizer/ggml-vocab-llama-spm.gguf");
  const auto bpe = gguf_tokenizer(kGolden + "/tokenizer/ggml-vocab-gpt-2.gguf");
  std::string word;
  for (int i = 0; i < 50000; ++i) word += "abcde"[i % 5];
  std::string prose;
  while (prose.size() < 500000) prose += manifest_text() + "\n";
  for (const Tokenizer* t : {spm.get(), bpe.get()}) {
    for (const std::string& text : {word, prose}) {
      const std::vector<int32_t> ids = t->encode(text, false);
      EXPECT_LT(ids.size(), text.size() / 2);
      std::string decoded = t->decode(ids);
      if (t == spm.get()) decoded.erase(0, 1);  // the dummy prefix
      EXPECT_EQ(decoded, text);
    }
  }
}

TEST(Utf8Stream, HoldsBackSplitCharacters) {
  const std::string text = "a\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x81z";  // a é 中 😁 z
  Utf8Stream stream;
  std::string out;
  std::vector<std::string> emitted;
  for (char c : text) {
    emitted.push_back(stream.push(std::string(1, c)));
    out += emitted.back();
  }
  out += stream.flush();
  EXPECT_EQ(out, text);
  // Nothing is released before a character is complete.
  EXPECT_EQ(emitted[1], "");                  // first byte of é
  EXPECT_EQ(emitted[2], "\xC3\xA9");          // é complete
  EXPECT_EQ(emitted[6], "");                  // 😁, 1 of 4
  EXPECT_EQ(emitted[8], "");                  // 😁, 3 of 4
  EXPECT_EQ(emitted[9], "\xF0\x9F\x98\x81");  // 😁 complete
}

TEST(Utf8Stream, InvalidBytesBecomeReplacementCharacters) {
  const std::string fffd = "\xEF\xBF\xBD";
  Utf8Stream stream;
  EXPECT_EQ(stream.push("a\xFF"
                        "b"),
            "a" + fffd + "b");
  EXPECT_EQ(stream.push("\xE4\xB8"), "");                      // incomplete: held
  EXPECT_EQ(stream.push("x"), fffd + "x");                     // broken by an ASCII byte
  EXPECT_EQ(stream.push("\xED\xA0\x80"), fffd + fffd + fffd);  // a surrogate is not UTF-8
  EXPECT_EQ(stream.push("\xF0\x9F"), "");
  EXPECT_EQ(stream.flush(), fffd);  // incomplete at the end
  EXPECT_EQ(stream.flush(), "");
}

bool is_complete_utf8(const std::string& s) {
  for (size_t pos = 0; pos < s.size();) {
    const DecodedCodepoint d = decode_utf8(s, pos);
    if (d.codepoint == kInvalidUtf8) return false;
    pos += d.length;
  }
  return true;
}

TEST(Utf8Stream, StreamsByteTokens) {
  // An emoji that tok512 can only spell in byte tokens, printed token by token.
  const auto tokenizer = tok512();
  const std::string text = "Hi \xF0\x9F\x98\x81 there";
  const std::vector<int32_t> ids = tokenizer->encode(text, true);
  Utf8Stream stream;
  std::string out;
  for (size_t i = 1; i < ids.size(); ++i) {
    const std::string visible = stream.push(tokenizer->piece(ids[i - 1], ids[i]));
    EXPECT_TRUE(is_complete_utf8(visible)) << "token " << i;
    out += visible;
  }
  EXPECT_GE(ids.size(), 8u);  // the emoji took four byte tokens
  out += stream.flush();
  EXPECT_EQ(out, text);
}

TEST(Unicode, Classes) {
  EXPECT_TRUE(is_letter('a'));
  EXPECT_TRUE(is_letter(0x4E2D));   // 中
  EXPECT_TRUE(is_letter(0x0416));   // Ж
  EXPECT_TRUE(is_letter(0x20000));  // CJK extension B (a range in UnicodeData.txt)
  EXPECT_FALSE(is_letter('1'));
  EXPECT_TRUE(is_number('7'));
  EXPECT_TRUE(is_number(0x00BD));  // ½
  EXPECT_TRUE(is_number(0x0663));  // Arabic-Indic three
  EXPECT_TRUE(is_whitespace(' '));
  EXPECT_TRUE(is_whitespace(0x00A0));
  EXPECT_TRUE(is_whitespace(0x3000));
  EXPECT_FALSE(is_whitespace(0x200B));                      // zero width space is not White_Space
  EXPECT_EQ(unicode_flags(0x1F601), unicode_flag::symbol);  // 😁
  EXPECT_EQ(unicode_flags(0x0301), unicode_flag::mark);
  EXPECT_EQ(unicode_flags(0x10FFFF), 0);
}

TEST(Unicode, DecodeUtf8) {
  const std::string s = "\xE2\x96\x81x\xC0\xAF\xF4\x90\x80\x80\xE2\x82";
  DecodedCodepoint d = decode_utf8(s, 0);
  EXPECT_EQ(d.codepoint, 0x2581u);
  EXPECT_EQ(d.length, 3u);
  d = decode_utf8(s, 4);  // overlong '/'
  EXPECT_EQ(d.codepoint, kInvalidUtf8);
  EXPECT_EQ(d.length, 1u);
  EXPECT_FALSE(d.truncated);
  d = decode_utf8(s, 6);  // above U+10FFFF
  EXPECT_EQ(d.codepoint, kInvalidUtf8);
  EXPECT_EQ(d.length, 1u);
  d = decode_utf8(s, 10);  // cut short
  EXPECT_EQ(d.codepoint, kInvalidUtf8);
  EXPECT_TRUE(d.truncated);
  std::string encoded;
  for (uint32_t cp : {0x41u, 0xE9u, 0x2581u, 0x1F601u}) append_utf8(encoded, cp);
  EXPECT_EQ(encoded, "A\xC3\xA9\xE2\x96\x81\xF0\x9F\x98\x81");
}

}  // namespace
}  // namespace llamascope
