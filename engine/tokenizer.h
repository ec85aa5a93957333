// Tokenizers: SentencePiece-style (GGUF `tokenizer.ggml.model = llama`, and llama2.c's tokenizer.bin) and
// byte-level BPE (`gpt2`, with the pre-tokenizer named by `tokenizer.ggml.pre`). Encoding matches
// llama.cpp's tokenizer test vectors; decoding handles byte tokens and partial UTF-8.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace llamascope {

class GgufFile;

// GGUF token types (tokenizer.ggml.token_type).
enum class TokenType : int32_t {
  undefined = 0,
  normal = 1,
  unknown = 2,
  control = 3,
  user_defined = 4,
  unused = 5,
  byte = 6
};

struct Vocabulary {
  enum class Kind { spm, bpe };
  Kind kind = Kind::spm;
  std::vector<std::string> tokens;  // SPM: pieces with U+2581 for space (GGUF) or plain spaces (llama2.c)
  std::vector<float> scores;        // SPM merge priorities (may be empty for BPE)
  std::vector<TokenType> types;     // same length as tokens
  std::vector<std::string> merges;  // BPE: "left right", highest priority first
  std::string pre = "default";      // BPE pre-tokenizer: "default" (GPT-2), "llama-bpe", ...
  int32_t bos = -1;
  int32_t eos = -1;
  int32_t unk = -1;
  std::vector<int32_t> end_of_generation;  // eos, eot, ... : generation stops at any of these
  bool add_bos = true;
  bool add_space_prefix = true;
  bool llama2c_spaces = false;  // pieces use ' ' rather than U+2581 (llama2.c tokenizer.bin)
  // Tokens matched whole in raw text that swallow the whitespace after them. GGUF does not store this;
  // llama.cpp sets it by model name (Phi-3: every special token but <unk>, <s>, <|endoftext|>), as we do.
  std::vector<bool> strip_right;  // empty, or one flag per token
};

// From GGUF metadata (tokenizer.ggml.*). Throws Error for a missing or malformed vocabulary or an
// unsupported tokenizer model / pre-tokenizer (naming it).
Vocabulary vocabulary_from_gguf(const GgufFile& gguf);
// From llama2.c's tokenizer.bin, as llama2.c uses it (BOS 1, EOS 2, byte tokens <0xXX> at 3..258).
Vocabulary vocabulary_from_llama2c(const std::string& tokenizer_path, int32_t vocab_size);

// A BPE pre-tokenizer on its own ("default"/"gpt-2" or "llama-bpe"): the pieces `text` is split into before
// merging, as raw bytes. Throws Error for an unsupported name.
std::vector<std::string> bpe_pre_tokenize(std::string_view text, const std::string& pre);

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  static std::unique_ptr<Tokenizer> create(Vocabulary vocab);

  const Vocabulary& vocab() const { return vocab_; }
  int32_t n_tokens() const { return static_cast<int32_t>(vocab_.tokens.size()); }

  // Text to ids, special tokens not parsed (as llama.cpp's tokenizer tests run). BOS first if asked.
  // User-defined tokens (token type 4) are matched as whole tokens in the raw text first, longest first,
  // as llama.cpp does; the text between them is encoded by the vocabulary's algorithm.
  std::vector<int32_t> encode(std::string_view text, bool add_bos) const;

  // The bytes `token` contributes to the text when it follows `prev` (llama2.c's rule: the leading space
  // of the piece after BOS is dropped; byte tokens give their raw byte; control tokens give nothing).
  virtual std::string piece(int32_t prev, int32_t token) const = 0;

  // Whole-sequence decode (no BOS-space rule other than piece()'s).
  std::string decode(std::span<const int32_t> tokens) const;

  bool is_end_of_generation(int32_t token) const;

 protected:
  explicit Tokenizer(Vocabulary vocab);
  // Appends the ids of a stretch of raw text that holds no user-defined token. after_token: it follows a
  // token taken whole (or starts the text), where SentencePiece adds its dummy space prefix.
  virtual void encode_text(std::string_view text, bool after_token, std::vector<int32_t>& out) const = 0;

  Vocabulary vocab_;
  std::vector<int32_t> user_defined_;  // user-defined tokens with text, longest first (ties by id)
};

// Turns a stream of byte pieces into complete UTF-8: holds back an incomplete trailing sequence until the
// bytes that finish it arrive; invalid bytes become U+FFFD.
class Utf8Stream {
 public:
  std::string push(std::string_view bytes);  // returns what is safe to print now
  std::string flush();                       // whatever is left (incomplete -> U+FFFD)

 private:
  std::string pending_;
};

}  // namespace llamascope
