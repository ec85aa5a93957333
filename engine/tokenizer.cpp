// Vocabulary loading (GGUF metadata, llama2.c tokenizer.bin) and the two tokenizers: SentencePiece-style
// score-driven merging (as llama.cpp's SPM tokenizer and llama2.c's encode() do it) and GPT-2 byte-level BPE
// with hand-written pre-tokenizers. Both merge loops use a priority queue over adjacent pairs, so encoding
// is O(n log n) in the input length.
#include "engine/tokenizer.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <functional>
#include <optional>
#include <queue>
#include <unordered_map>

#include "base/error.h"
#include "engine/gguf.h"
#include "engine/llama2c.h"
#include "engine/unicode.h"

namespace llamascope {

namespace {

constexpr std::string_view kSpmSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's visible space

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using TokenMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

// Later duplicates win, as in llama.cpp's token-to-id map.
TokenMap make_token_map(const std::vector<std::string>& tokens) {
  TokenMap map;
  map.reserve(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) map[tokens[i]] = static_cast<int32_t>(i);
  return map;
}

int32_t find_token(const TokenMap& map, std::string_view text) {
  auto it = map.find(text);
  return it == map.end() ? -1 : it->second;
}

// "<0xAB>" -> 0xAB
std::optional<uint8_t> parse_byte_token(std::string_view text) {
  if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return std::nullopt;
  int value = 0;
  for (char c : text.substr(3, 2)) {
    int digit;
    if (c >= '0' && c <= '9')
      digit = c - '0';
    else if (c >= 'A' && c <= 'F')
      digit = c - 'A' + 10;
    else if (c >= 'a' && c <= 'f')
      digit = c - 'a' + 10;
    else
      return std::nullopt;
    value = value * 16 + digit;
  }
  return static_cast<uint8_t>(value);
}

std::string byte_token_text(uint8_t byte) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "<0x%02X>", byte);
  return buf;
}

std::string replace_all(std::string_view text, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (true) {
    const size_t hit = text.find(from, pos);
    if (hit == std::string_view::npos) break;
    out.append(text.substr(pos, hit - pos));
    out.append(to);
    pos = hit + from.size();
  }
  out.append(text.substr(pos));
  return out;
}

std::string id_range_error(const std::string& what, int64_t id, size_t n_tokens) {
  return what + " " + std::to_string(id) + " is outside the vocabulary (0.." + std::to_string(n_tokens) + ")";
}

void validate(Vocabulary& v) {
  const size_t n = v.tokens.size();
  if (n == 0) throw Error("tokenizer: the vocabulary is empty");
  if (n > static_cast<size_t>(INT32_MAX)) throw Error("tokenizer: the vocabulary is too large");
  if (v.types.empty()) v.types.assign(n, TokenType::normal);
  if (v.types.size() != n)
    throw Error("tokenizer: " + std::to_string(v.types.size()) + " token types for " + std::to_string(n) +
                " tokens");
  if (v.scores.empty() && v.kind == Vocabulary::Kind::spm) v.scores.assign(n, 0.0f);
  if (!v.scores.empty() && v.scores.size() != n)
    throw Error("tokenizer: " + std::to_string(v.scores.size()) + " scores for " + std::to_string(n) +
                " tokens");
  for (TokenType t : v.types)
    if (static_cast<int32_t>(t) < 0 || static_cast<int32_t>(t) > 6)
      throw Error("tokenizer: unknown token type " + std::to_string(static_cast<int32_t>(t)));
  const auto check = [&](const char* what, int32_t id) {
    if (id < -1 || id >= static_cast<int64_t>(n))
      throw Error("tokenizer: " + id_range_error(what, id, n - 1));
  };
  check("BOS id", v.bos);
  check("EOS id", v.eos);
  check("unknown-token id", v.unk);
  for (int32_t id : v.end_of_generation) {
    if (id < 0 || id >= static_cast<int64_t>(n))
      throw Error("tokenizer: " + id_range_error("end-of-generation id", id, n - 1));
  }
  if (!v.strip_right.empty() && v.strip_right.size() != n)
    throw Error("tokenizer: " + std::to_string(v.strip_right.size()) + " strip flags for " +
                std::to_string(n) + " tokens");
}

// ---------------------------------------------------------------------------------------------------
// The merge loop both tokenizers run
// ---------------------------------------------------------------------------------------------------

// A piece of the text being tokenized, in a linked list of its neighbours.
struct MergeSymbol {
  int prev;
  int next;
  size_t start;
  size_t length;             // 0 once merged into the symbol on its left
  int32_t fixed_token = -1;  // llama2.c: a byte-fallback token decided before merging; never merges
};

// Merges adjacent symbols, the best pair first and the leftmost on ties, until no adjacent pair merges.
// `priority(left, right)` is a pair's priority (nullopt: the two never merge); `worse(a, b)` orders
// priorities (SentencePiece: a lower score; BPE: a later merge rank).
template <class Priority, class PairPriority, class Worse>
void merge_symbols(std::vector<MergeSymbol>& symbols, PairPriority priority, Worse worse) {
  struct Bigram {
    Priority priority;
    int left;
    int right;
    size_t length;
  };
  const auto order = [&worse](const Bigram& a, const Bigram& b) {
    return worse(a.priority, b.priority) || (a.priority == b.priority && a.left > b.left);
  };
  std::priority_queue<Bigram, std::vector<Bigram>, decltype(order)> queue(order);
  const auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const MergeSymbol& l = symbols[left];
    const MergeSymbol& r = symbols[right];
    const std::optional<Priority> p = priority(l, r);
    if (p) queue.push(Bigram{*p, left, right, l.length + r.length});
  };
  for (size_t i = 1; i < symbols.size(); ++i) try_add(static_cast<int>(i) - 1, static_cast<int>(i));
  while (!queue.empty()) {
    const Bigram bigram = queue.top();
    queue.pop();
    MergeSymbol& l = symbols[bigram.left];
    MergeSymbol& r = symbols[bigram.right];
    // Stale: one side has merged with something else since this pair was queued.
    if (l.length == 0 || r.length == 0 || l.length + r.length != bigram.length) continue;
    l.length += r.length;
    r.length = 0;
    l.next = r.next;
    if (r.next >= 0) symbols[r.next].prev = bigram.left;
    try_add(l.prev, bigram.left);
    try_add(bigram.left, l.next);
  }
}

// ---------------------------------------------------------------------------------------------------
// SentencePiece-style tokenizer
// ---------------------------------------------------------------------------------------------------

class SpmTokenizer final : public Tokenizer {
 public:
  explicit SpmTokenizer(Vocabulary vocab)
      : Tokenizer(std::move(vocab)), token_map_(make_token_map(vocab_.tokens)) {
    const int32_t n = n_tokens();
    for (int b = 0; b < 256; ++b) {
      // llama2.c does not look byte tokens up: it uses id byte + 3.
      byte_token_[b] = vocab_.llama2c_spaces
                           ? (b + 3 < n ? b + 3 : -1)
                           : find_token(token_map_, byte_token_text(static_cast<uint8_t>(b)));
    }
    pieces_.resize(n);
    is_byte_piece_.assign(n, false);
    for (int32_t id = 0; id < n; ++id) {
      const std::string& text = vocab_.tokens[id];
      const TokenType type = vocab_.types[id];
      const auto byte = parse_byte_token(text);
      if (byte && (type == TokenType::byte || (vocab_.llama2c_spaces && id >= 3 && id < 259))) {
        pieces_[id] = std::string(1, static_cast<char>(*byte));
        is_byte_piece_[id] = true;
      } else if (type == TokenType::control || type == TokenType::unused || type == TokenType::undefined) {
        pieces_[id].clear();
      } else {
        pieces_[id] = vocab_.llama2c_spaces ? text : replace_all(text, kSpmSpace, " ");
      }
    }
  }

  void encode_text(std::string_view text, bool after_token, std::vector<int32_t>& out) const override {
    if (text.empty()) return;

    // The text the merges work on: dummy prefix, then spaces in the vocabulary's spelling.
    std::string prepared;
    if (vocab_.add_space_prefix && after_token) prepared = " ";
    prepared.append(text);
    if (!vocab_.llama2c_spaces) prepared = replace_all(prepared, " ", kSpmSpace);

    std::vector<Symbol> symbols = split_symbols(prepared);
    merge(prepared, symbols);

    for (int i = symbols.empty() ? -1 : 0; i != -1; i = symbols[i].next) {
      const Symbol& s = symbols[i];
      if (s.fixed_token >= 0) {
        out.push_back(s.fixed_token);
        continue;
      }
      const std::string_view piece = std::string_view(prepared).substr(s.start, s.length);
      const int32_t id = find_token(token_map_, piece);
      if (id >= 0) {
        out.push_back(id);
        continue;
      }
      for (unsigned char byte : piece) {
        const int32_t fallback = byte_token_[byte] >= 0 ? byte_token_[byte] : vocab_.unk;
        if (fallback >= 0) out.push_back(fallback);
      }
    }
  }

  std::string piece(int32_t prev, int32_t token) const override {
    if (token < 0 || token >= n_tokens())
      throw Error("tokenizer: " + id_range_error("token id", token, n_tokens() - 1));
    const std::string& p = pieces_[token];
    if (prev >= 0 && prev == vocab_.bos && vocab_.add_space_prefix && !is_byte_piece_[token] && !p.empty() &&
        p[0] == ' ')
      return p.substr(1);
    return p;
  }

 private:
  using Symbol = MergeSymbol;

  std::vector<Symbol> split_symbols(const std::string& text) const {
    std::vector<Symbol> symbols;
    symbols.reserve(text.size());
    size_t pos = 0;
    const auto add = [&](size_t start, size_t length, int32_t fixed) {
      const int index = static_cast<int>(symbols.size());
      symbols.push_back(Symbol{index - 1, index + 1, start, length, fixed});
    };
    while (pos < text.size()) {
      size_t length;
      if (vocab_.llama2c_spaces) {
        // llama2.c groups a byte with the continuation bytes that follow it (at most 4 bytes) and turns a
        // group that is not in the vocabulary into byte tokens right away.
        length = 1;
        while (pos + length < text.size() && length < 4 &&
               (static_cast<unsigned char>(text[pos + length]) & 0xC0) == 0x80)
          ++length;
        if (find_token(token_map_, std::string_view(text).substr(pos, length)) < 0) {
          for (size_t i = 0; i < length; ++i) {
            const int32_t id = byte_token_[static_cast<unsigned char>(text[pos + i])];
            add(pos + i, 1, id >= 0 ? id : (vocab_.unk >= 0 ? vocab_.unk : 0));
          }
          pos += length;
          continue;
        }
      } else {
        length = std::min(utf8_sequence_length(static_cast<unsigned char>(text[pos])), text.size() - pos);
      }
      add(pos, length, -1);
      pos += length;
    }
    if (!symbols.empty()) symbols.back().next = -1;
    return symbols;
  }

  void merge(const std::string& text, std::vector<Symbol>& symbols) const {
    // The pair whose joined text is the highest-scoring token merges first.
    const auto score = [&](const Symbol& l, const Symbol& r) -> std::optional<float> {
      if (l.fixed_token >= 0 || r.fixed_token >= 0) return std::nullopt;
      const int32_t id = find_token(token_map_, std::string_view(text).substr(l.start, l.length + r.length));
      if (id < 0) return std::nullopt;
      return vocab_.scores[id];
    };
    merge_symbols<float>(symbols, score, std::less<float>());
  }

  TokenMap token_map_;
  std::array<int32_t, 256> byte_token_{};
  std::vector<std::string> pieces_;  // decoded bytes of each token
  std::vector<bool> is_byte_piece_;
};

// ---------------------------------------------------------------------------------------------------
// Byte-level BPE (GPT-2 family)
// ---------------------------------------------------------------------------------------------------

// GPT-2's reversible byte -> printable code point mapping: printable Latin-1 bytes map to themselves, the
// others to U+0100 and up, in byte order.
struct ByteLevelMap {
  std::array<uint32_t, 256> byte_to_codepoint{};
  std::array<int16_t, 512> codepoint_to_byte{};  // -1: not a byte-level character
  std::array<std::string, 256> byte_to_utf8;

  ByteLevelMap() {
    codepoint_to_byte.fill(-1);
    uint32_t next_extra = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      byte_to_codepoint[b] = printable ? b : next_extra++;
      codepoint_to_byte[byte_to_codepoint[b]] = static_cast<int16_t>(b);
      append_utf8(byte_to_utf8[b], byte_to_codepoint[b]);
    }
  }
};

const ByteLevelMap& byte_level_map() {
  static const ByteLevelMap map;
  return map;
}

enum class PreTokenizer { gpt2, llama3 };

struct Span {
  size_t begin;
  size_t end;
};

// The text as code points with their byte offsets; an ill-formed byte becomes one kInvalidUtf8 "character"
// (no class), so the original bytes survive into the byte-level encoding.
struct CodepointText {
  std::vector<uint32_t> cps;
  std::vector<size_t> offsets;  // cps.size() + 1 entries

  explicit CodepointText(std::string_view text) {
    cps.reserve(text.size());
    offsets.reserve(text.size() + 1);
    for (size_t pos = 0; pos < text.size();) {
      DecodedCodepoint d = decode_utf8(text, pos);
      if (d.codepoint == kInvalidUtf8) d.length = 1;
      cps.push_back(d.codepoint);
      offsets.push_back(pos);
      pos += d.length;
    }
    offsets.push_back(text.size());
  }
};

// Splits per the pre-tokenizer's regex (see the patterns in the comments), implemented by hand so the
// Unicode classes are right. Returns code point index ranges.
std::vector<Span> pre_tokenize(const std::vector<uint32_t>& cps, PreTokenizer kind) {
  const size_t n = cps.size();
  std::vector<uint8_t> flags(n);
  for (size_t i = 0; i < n; ++i) flags[i] = cps[i] == kInvalidUtf8 ? 0 : unicode_flags(cps[i]);
  const auto letter = [&](size_t i) { return i < n && (flags[i] & unicode_flag::letter); };
  const auto number = [&](size_t i) { return i < n && (flags[i] & unicode_flag::number); };
  const auto space = [&](size_t i) { return i < n && (flags[i] & unicode_flag::whitespace); };
  // [^\s\p{L}\p{N}]
  const auto other = [&](size_t i) {
    return i < n && !(flags[i] & (unicode_flag::letter | unicode_flag::number | unicode_flag::whitespace));
  };
  // One of letter / number / other / white space (the classes GPT-2's runs are made of).
  constexpr int kSpaceClass = 3;
  const auto char_class = [&](size_t i) -> int {
    if (flags[i] & unicode_flag::letter) return 0;
    if (flags[i] & unicode_flag::number) return 1;
    if (flags[i] & unicode_flag::whitespace) return kSpaceClass;
    return 2;
  };
  const auto newline = [&](size_t i) { return i < n && (cps[i] == '\r' || cps[i] == '\n'); };
  const auto lower = [&](size_t i) -> uint32_t {
    if (i >= n) return 0;
    return cps[i] >= 'A' && cps[i] <= 'Z' ? cps[i] + 32 : cps[i];
  };
  const bool ignore_case = kind == PreTokenizer::llama3;
  const auto ch = [&](size_t i) -> uint32_t { return i >= n ? 0 : (ignore_case ? lower(i) : cps[i]); };

  // 's|'t|'re|'ve|'m|'ll|'d: length of the match at i, or 0
  const auto contraction = [&](size_t i) -> size_t {
    if (cps[i] != '\'') return 0;
    const uint32_t a = ch(i + 1), b = ch(i + 2);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
  };

  std::vector<Span> words;
  size_t i = 0;
  const auto emit = [&](size_t end) {
    words.push_back({i, end});
    i = end;
  };
  while (i < n) {
    if (size_t len = contraction(i)) {
      emit(i + len);
      continue;
    }
    if (kind == PreTokenizer::gpt2) {
      // ' ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+': one class, optionally after one ASCII space
      const size_t j = (cps[i] == ' ' && i + 1 < n) ? i + 1 : i;
      const int cls = char_class(j);
      if (cls != kSpaceClass) {
        size_t end = j + 1;
        while (end < n && char_class(end) == cls) ++end;
        emit(end);
        continue;
      }
    } else {
      // '[^\r\n\p{L}\p{N}]?\p{L}+'
      if (letter(i) || (!newline(i) && !number(i) && letter(i + 1))) {
        size_t end = i + 1;
        while (letter(end)) ++end;
        emit(end);
        continue;
      }
      // '\p{N}{1,3}'
      if (number(i)) {
        size_t end = i + 1;
        while (end < i + 3 && number(end)) ++end;
        emit(end);
        continue;
      }
      // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
      const size_t j = (cps[i] == ' ') ? i + 1 : i;
      if (other(j)) {
        size_t end = j + 1;
        while (other(end)) ++end;
        while (newline(end)) ++end;
        emit(end);
        continue;
      }
    }
    // White space from here on (anything else was taken above).
    size_t run_end = i;
    while (space(run_end)) ++run_end;
    if (run_end == i) {  // unreachable in practice; keeps the loop safe
      emit(i + 1);
      continue;
    }
    if (kind == PreTokenizer::llama3) {
      // '\s*[\r\n]+': up to and including the last newline of the run
      size_t last_newline = run_end;
      for (size_t k = i; k < run_end; ++k)
        if (newline(k)) last_newline = k;
      if (last_newline != run_end) {
        emit(last_newline + 1);
        continue;
      }
    }
    // '\s+(?!\S)|\s+': the run, less its last character when non-space follows and the run is longer than 1
    if (run_end < n && run_end - i > 1)
      emit(run_end - 1);
    else
      emit(run_end);
  }
  return words;
}

std::optional<PreTokenizer> find_pre_tokenizer(std::string_view name) {
  // mpt: llama.cpp splits MPT's text with GPT-2's expression (its whitespace runs are user-defined tokens).
  if (name == "default" || name == "gpt-2" || name == "gpt2" || name == "mpt") return PreTokenizer::gpt2;
  if (name == "llama-bpe" || name == "llama3" || name == "llama-v3") return PreTokenizer::llama3;
  return std::nullopt;
}

PreTokenizer pre_tokenizer_or_throw(const std::string& name, const std::string& where) {
  const std::optional<PreTokenizer> kind = find_pre_tokenizer(name);
  if (!kind)
    throw Error(where + ": unsupported BPE pre-tokenizer '" + name +
                "' (supported: default, gpt-2, mpt, llama-bpe)");
  return *kind;
}

class BpeTokenizer final : public Tokenizer {
 public:
  explicit BpeTokenizer(Vocabulary vocab)
      : Tokenizer(std::move(vocab)), token_map_(make_token_map(vocab_.tokens)) {
    pre_tokenizer_ = pre_tokenizer_or_throw(vocab_.pre, "tokenizer");
    // LLaMA 3 (as llama.cpp runs it): a pre-token that is itself a token is taken whole, merges or not.
    ignore_merges_ = pre_tokenizer_ == PreTokenizer::llama3;
    merge_rank_.reserve(vocab_.merges.size());
    for (size_t rank = 0; rank < vocab_.merges.size(); ++rank) {
      const std::string& m = vocab_.merges[rank];
      const size_t split = m.find(' ', 1);
      if (split == std::string::npos || split + 1 >= m.size())
        throw Error("tokenizer: malformed BPE merge '" + m + "' (want \"left right\")");
      merge_rank_.emplace(m, static_cast<int32_t>(rank));  // first (highest-priority) occurrence wins
    }

    const ByteLevelMap& bytes = byte_level_map();
    pieces_.resize(n_tokens());
    for (int32_t id = 0; id < n_tokens(); ++id) {
      const std::string& text = vocab_.tokens[id];
      switch (vocab_.types[id]) {
        case TokenType::control:
        case TokenType::unused:
        case TokenType::undefined:
        case TokenType::unknown:
          break;
        case TokenType::user_defined:
          pieces_[id] = text;
          break;
        default:
          for (size_t pos = 0; pos < text.size();) {
            const DecodedCodepoint d = decode_utf8(text, pos);
            if (d.codepoint < bytes.codepoint_to_byte.size() && bytes.codepoint_to_byte[d.codepoint] >= 0)
              pieces_[id] += static_cast<char>(bytes.codepoint_to_byte[d.codepoint]);
            else
              pieces_[id].append(text, pos, d.length);  // not byte-level: keep as written
            pos += d.length;
          }
      }
    }
  }

  void encode_text(std::string_view text, bool /*after_token*/, std::vector<int32_t>& out) const override {
    const CodepointText cps(text);
    const ByteLevelMap& bytes = byte_level_map();
    std::string word;
    std::string key;
    for (const Span& span : pre_tokenize(cps.cps, pre_tokenizer_)) {
      word.clear();
      for (size_t b = cps.offsets[span.begin]; b < cps.offsets[span.end]; ++b)
        word += bytes.byte_to_utf8[static_cast<unsigned char>(text[b])];
      encode_word(word, key, out);
    }
  }

  std::string piece(int32_t /*prev*/, int32_t token) const override {
    if (token < 0 || token >= n_tokens())
      throw Error("tokenizer: " + id_range_error("token id", token, n_tokens() - 1));
    return pieces_[token];
  }

 private:
  using Symbol = MergeSymbol;

  void encode_word(const std::string& word, std::string& key, std::vector<int32_t>& out) const {
    if (ignore_merges_) {
      const int32_t whole = find_token(token_map_, word);
      if (whole >= 0) {
        out.push_back(whole);
        return;
      }
    }
    std::vector<Symbol> symbols;
    for (size_t pos = 0; pos < word.size();) {
      const size_t length =
          std::min(utf8_sequence_length(static_cast<unsigned char>(word[pos])), word.size() - pos);
      const int index = static_cast<int>(symbols.size());
      symbols.push_back(Symbol{index - 1, index + 1, pos, length});
      pos += length;
    }
    if (symbols.empty()) return;
    symbols.back().next = -1;

    // The pair listed earliest among the merges goes first.
    const auto rank = [&](const Symbol& l, const Symbol& r) -> std::optional<int32_t> {
      key.assign(word, l.start, l.length);
      key += ' ';
      key.append(word, r.start, r.length);
      const auto it = merge_rank_.find(std::string_view(key));
      if (it == merge_rank_.end()) return std::nullopt;
      return it->second;
    };
    merge_symbols<int32_t>(symbols, rank, std::greater<int32_t>());

    for (int i = 0; i != -1; i = symbols[i].next) {
      const std::string_view text = std::string_view(word).substr(symbols[i].start, symbols[i].length);
      const int32_t id = find_token(token_map_, text);
      if (id >= 0) {
        out.push_back(id);
        continue;
      }
      // Not a token although merges produced it (an inconsistent vocabulary): fall back to characters.
      for (size_t pos = 0; pos < text.size();) {
        const size_t length =
            std::min(utf8_sequence_length(static_cast<unsigned char>(text[pos])), text.size() - pos);
        const int32_t char_id = find_token(token_map_, text.substr(pos, length));
        if (char_id >= 0)
          out.push_back(char_id);
        else if (vocab_.unk >= 0)
          out.push_back(vocab_.unk);
        pos += length;
      }
    }
  }

  TokenMap token_map_;
  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> merge_rank_;  // "left right" -> rank
  PreTokenizer pre_tokenizer_ = PreTokenizer::gpt2;
  bool ignore_merges_ = false;
  std::vector<std::string> pieces_;  // decoded bytes of each token
};

// ---------------------------------------------------------------------------------------------------
// Vocabulary loading
// ---------------------------------------------------------------------------------------------------

// A token id from metadata: absent or the "none" sentinel (-1 / 0xFFFFFFFF) gives fallback.
int32_t read_token_id(const GgufFile& gguf, const std::string& key, int32_t fallback, size_t n_tokens) {
  const std::optional<int64_t> value = gguf.get_int(key);
  if (!value) return fallback;
  if (*value == -1 || *value == 0xFFFFFFFFll) return -1;
  if (*value < 0 || *value >= static_cast<int64_t>(n_tokens))
    throw Error(gguf.path() + ": " + key + " = " + std::to_string(*value) +
                " is outside the vocabulary (0.." + std::to_string(n_tokens - 1) + ")");
  return static_cast<int32_t>(*value);
}

}  // namespace

namespace {

void set_strip_right_by_model_name(Vocabulary& v, std::string name) {
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  if (name.find("phi-3") == std::string::npos && name.find("phi3") == std::string::npos) return;
  v.strip_right.assign(v.tokens.size(), false);
  for (size_t id = 0; id < v.tokens.size(); ++id) {
    const TokenType t = v.types[id];
    const std::string& text = v.tokens[id];
    const bool special = t == TokenType::control || t == TokenType::user_defined || t == TokenType::unknown;
    v.strip_right[id] =
        (special || text == "</s>") && text != "<unk>" && text != "<s>" && text != "<|endoftext|>";
  }
}

}  // namespace

Vocabulary vocabulary_from_gguf(const GgufFile& gguf) {
  const std::string& path = gguf.path();
  Vocabulary v;
  const std::optional<std::string> model = gguf.get_string("tokenizer.ggml.model");
  if (!model) throw Error(path + ": no tokenizer (tokenizer.ggml.model is missing)");
  if (*model == "llama")
    v.kind = Vocabulary::Kind::spm;
  else if (*model == "gpt2")
    v.kind = Vocabulary::Kind::bpe;
  else
    throw Error(path + ": unsupported tokenizer model '" + *model + "' (supported: llama, gpt2)");
  const bool spm = v.kind == Vocabulary::Kind::spm;

  std::optional<std::vector<std::string>> tokens = gguf.get_string_array("tokenizer.ggml.tokens");
  if (!tokens || tokens->empty()) throw Error(path + ": tokenizer.ggml.tokens is missing or empty");
  v.tokens = std::move(*tokens);
  const size_t n = v.tokens.size();
  if (n > static_cast<size_t>(INT32_MAX)) throw Error(path + ": tokenizer.ggml.tokens has too many entries");

  if (auto scores = gguf.get_float_array("tokenizer.ggml.scores")) {
    if (scores->size() != n)
      throw Error(path + ": tokenizer.ggml.scores has " + std::to_string(scores->size()) + " entries for " +
                  std::to_string(n) + " tokens");
    v.scores = std::move(*scores);
  }
  if (auto types = gguf.get_int_array("tokenizer.ggml.token_type")) {
    if (types->size() != n)
      throw Error(path + ": tokenizer.ggml.token_type has " + std::to_string(types->size()) +
                  " entries for " + std::to_string(n) + " tokens");
    v.types.reserve(n);
    for (int64_t t : *types) {
      if (t < 0 || t > 6)
        throw Error(path + ": tokenizer.ggml.token_type has unknown type " + std::to_string(t));
      v.types.push_back(static_cast<TokenType>(t));
    }
  } else {
    v.types.assign(n, TokenType::normal);
  }

  if (spm) {
    // llama.cpp ignores tokenizer.ggml.pre for SentencePiece vocabularies.
    v.pre = gguf.get_string("tokenizer.ggml.pre").value_or("default");
  } else {
    auto merges = gguf.get_string_array("tokenizer.ggml.merges");
    if (!merges) throw Error(path + ": tokenizer.ggml.merges is missing (required for a gpt2 tokenizer)");
    v.merges = std::move(*merges);
    v.pre = gguf.get_string("tokenizer.ggml.pre").value_or("default");
    pre_tokenizer_or_throw(v.pre, path);
  }

  const auto default_id = [&](int32_t id) { return spm && id < static_cast<int32_t>(n) ? id : -1; };
  v.bos = read_token_id(gguf, "tokenizer.ggml.bos_token_id", default_id(1), n);
  v.eos = read_token_id(gguf, "tokenizer.ggml.eos_token_id", default_id(2), n);
  v.unk = read_token_id(gguf, "tokenizer.ggml.unknown_token_id", default_id(0), n);
  if (v.eos >= 0) v.end_of_generation.push_back(v.eos);
  for (const char* key : {"tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"}) {
    const int32_t id = read_token_id(gguf, key, -1, n);
    if (id >= 0 && id != v.eos) v.end_of_generation.push_back(id);
  }
  v.add_bos = gguf.get_bool("tokenizer.ggml.add_bos_token").value_or(spm || v.pre == "llama-bpe");
  v.add_space_prefix = gguf.get_bool("tokenizer.ggml.add_space_prefix").value_or(spm);
  v.llama2c_spaces = false;
  set_strip_right_by_model_name(v, gguf.get_string("general.name").value_or(""));
  return v;
}

Vocabulary vocabulary_from_llama2c(const std::string& tokenizer_path, int32_t vocab_size) {
  if (vocab_size < 3)
    throw Error(tokenizer_path + ": a llama2.c vocabulary needs at least 3 tokens (unk, BOS, EOS), got " +
                std::to_string(vocab_size));
  Llama2cVocab raw = load_llama2c_tokenizer(tokenizer_path, vocab_size);
  Vocabulary v;
  v.kind = Vocabulary::Kind::spm;
  v.tokens = std::move(raw.pieces);
  v.scores = std::move(raw.scores);
  if (v.tokens.size() != static_cast<size_t>(vocab_size) || v.scores.size() != v.tokens.size())
    throw Error(tokenizer_path + ": expected " + std::to_string(vocab_size) + " tokens and scores");
  v.types.assign(v.tokens.size(), TokenType::normal);
  v.types[1] = TokenType::control;
  v.types[2] = TokenType::control;
  for (size_t id = 3; id < v.tokens.size() && id < 259; ++id)
    if (parse_byte_token(v.tokens[id])) v.types[id] = TokenType::byte;
  v.bos = 1;
  v.eos = 2;
  v.unk = 0;
  // llama2.c's run.c stops when the model produces BOS; EOS ends generation as for every model.
  v.end_of_generation = {2, 1};
  v.add_bos = true;
  v.add_space_prefix = true;
  v.llama2c_spaces = true;
  return v;
}

std::vector<std::string> bpe_pre_tokenize(std::string_view text, const std::string& pre) {
  const CodepointText cps(text);
  std::vector<std::string> pieces;
  for (const Span& span : pre_tokenize(cps.cps, pre_tokenizer_or_throw(pre, "tokenizer")))
    pieces.emplace_back(
        text.substr(cps.offsets[span.begin], cps.offsets[span.end] - cps.offsets[span.begin]));
  return pieces;
}

Tokenizer::Tokenizer(Vocabulary vocab) : vocab_(std::move(vocab)) {
  for (int32_t id = 0; id < n_tokens(); ++id)
    if (vocab_.types[id] == TokenType::user_defined && !vocab_.tokens[id].empty())
      user_defined_.push_back(id);
  std::stable_sort(user_defined_.begin(), user_defined_.end(),
                   [&](int32_t a, int32_t b) { return vocab_.tokens[a].size() > vocab_.tokens[b].size(); });
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos) const {
  // Fragments of the text: raw stretches (token < 0) and user-defined tokens found in them. Each token, in
  // priority order, splits every raw stretch left so far at each of its occurrences.
  struct Fragment {
    std::string_view text;
    int32_t token = -1;
  };
  std::vector<Fragment> fragments, split;
  if (!text.empty()) fragments.push_back({text});
  for (int32_t id : user_defined_) {
    const std::string_view needle = vocab_.tokens[id];
    split.clear();
    for (const Fragment& f : fragments) {
      if (f.token >= 0 || f.text.find(needle) == std::string_view::npos) {
        split.push_back(f);
        continue;
      }
      const bool strip = !vocab_.strip_right.empty() && vocab_.strip_right[id];
      size_t from = 0;
      for (size_t at; (at = f.text.find(needle, from)) != std::string_view::npos;) {
        if (at > from) split.push_back({f.text.substr(from, at - from)});
        split.push_back({needle, id});
        from = at + needle.size();
        while (strip && from < f.text.size() && std::isspace(static_cast<unsigned char>(f.text[from])))
          ++from;
      }
      if (from < f.text.size()) split.push_back({f.text.substr(from)});
    }
    fragments.swap(split);
  }
  std::vector<int32_t> out;
  if (add_bos && vocab_.bos >= 0) out.push_back(vocab_.bos);
  bool after_token = true;
  for (const Fragment& f : fragments) {
    if (f.token >= 0) {
      out.push_back(f.token);
    } else {
      encode_text(f.text, after_token, out);
    }
    after_token = f.token >= 0;
  }
  return out;
}

std::unique_ptr<Tokenizer> Tokenizer::create(Vocabulary vocab) {
  validate(vocab);
  if (vocab.kind == Vocabulary::Kind::spm) return std::make_unique<SpmTokenizer>(std::move(vocab));
  return std::make_unique<BpeTokenizer>(std::move(vocab));
}

std::string Tokenizer::decode(std::span<const int32_t> tokens) const {
  std::string out;
  int32_t prev = -1;
  for (int32_t token : tokens) {
    out += piece(prev, token);
    prev = token;
  }
  return out;
}

bool Tokenizer::is_end_of_generation(int32_t token) const {
  for (int32_t id : vocab_.end_of_generation)
    if (id == token) return true;
  return false;
}

std::string Utf8Stream::push(std::string_view bytes) {
  pending_.append(bytes);
  std::string out;
  size_t pos = 0;
  while (pos < pending_.size()) {
    const DecodedCodepoint d = decode_utf8(pending_, pos);
    if (d.codepoint != kInvalidUtf8) {
      out.append(pending_, pos, d.length);
    } else if (d.truncated) {
      break;  // might still be completed by the next push
    } else {
      out += "\xEF\xBF\xBD";
    }
    pos += d.length;
  }
  pending_.erase(0, pos);
  return out;
}

std::string Utf8Stream::flush() {
  std::string out = push("");
  if (!pending_.empty()) out += "\xEF\xBF\xBD";  // an incomplete sequence: its maximal subpart, one U+FFFD
  pending_.clear();
  return out;
}

}  // namespace llamascope
