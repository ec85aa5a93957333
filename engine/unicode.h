// Unicode helpers for the tokenizers: UTF-8 decoding that never fails (bad bytes are reported, not thrown),
// UTF-8 encoding, and the character classes (\p{L}, \p{N}, \s, ...) the BPE pre-tokenizers split on. The
// class table is generated from the Unicode Character Database by tools/gen_unicode_tables.py.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace llamascope {

namespace unicode_flag {
inline constexpr uint8_t letter = 1;       // General_Category L*
inline constexpr uint8_t number = 2;       // General_Category N*
inline constexpr uint8_t whitespace = 4;   // White_Space property
inline constexpr uint8_t punctuation = 8;  // General_Category P*
inline constexpr uint8_t symbol = 16;      // General_Category S*
inline constexpr uint8_t mark = 32;        // General_Category M*
}  // namespace unicode_flag

// The unicode_flag bits of a code point (0 for unassigned code points, controls other than white space,
// and the "invalid byte" marker below).
uint8_t unicode_flags(uint32_t codepoint);
inline bool is_letter(uint32_t cp) {
  return unicode_flags(cp) & unicode_flag::letter;
}
inline bool is_number(uint32_t cp) {
  return unicode_flags(cp) & unicode_flag::number;
}
inline bool is_whitespace(uint32_t cp) {
  return unicode_flags(cp) & unicode_flag::whitespace;
}

// What decode_utf8 returns for a byte that does not start a well-formed sequence (outside the code space,
// so it can never be confused with a real character).
inline constexpr uint32_t kInvalidUtf8 = 0xFFFFFFFF;

struct DecodedCodepoint {
  uint32_t codepoint;      // kInvalidUtf8 for a malformed sequence
  size_t length;           // bytes consumed, at least 1 (a malformed sequence consumes its maximal subpart)
  bool truncated = false;  // malformed only because the text ends: more bytes could still complete it
};

// Decodes the code point at text[pos] (pos < text.size()). Strict: overlong forms, surrogates and values
// past U+10FFFF are malformed; the bytes consumed then follow Unicode's "maximal subpart" practice.
DecodedCodepoint decode_utf8(std::string_view text, size_t pos);

// Bytes of the whole sequence a lead byte announces (1 for ASCII, continuation or invalid lead bytes).
size_t utf8_sequence_length(unsigned char lead);

void append_utf8(std::string& out, uint32_t codepoint);

namespace unicode_detail {
struct CodepointRange {
  uint32_t first;
  uint32_t last;
  uint8_t flags;
};
extern const CodepointRange kCodepointRanges[];
extern const size_t kCodepointRangeCount;
}  // namespace unicode_detail

}  // namespace llamascope
