// UTF-8 decoding/encoding and character-class lookup over the generated range table.
#include "engine/unicode.h"

#include <algorithm>
#include <array>

namespace llamascope {

namespace {

// ASCII is by far the most common input; a direct table skips the binary search for it.
std::array<uint8_t, 128> make_ascii_flags() {
  std::array<uint8_t, 128> table{};
  using unicode_detail::kCodepointRangeCount;
  using unicode_detail::kCodepointRanges;
  for (size_t r = 0; r < kCodepointRangeCount && kCodepointRanges[r].first < 128; ++r)
    for (uint32_t cp = kCodepointRanges[r].first; cp <= kCodepointRanges[r].last && cp < 128; ++cp)
      table[cp] = kCodepointRanges[r].flags;
  return table;
}

}  // namespace

uint8_t unicode_flags(uint32_t codepoint) {
  static const std::array<uint8_t, 128> ascii = make_ascii_flags();
  if (codepoint < 128) return ascii[codepoint];
  using unicode_detail::kCodepointRangeCount;
  using unicode_detail::kCodepointRanges;
  const auto* end = kCodepointRanges + kCodepointRangeCount;
  // First range whose last code point is >= codepoint.
  const auto* it =
      std::lower_bound(kCodepointRanges, end, codepoint,
                       [](const unicode_detail::CodepointRange& r, uint32_t cp) { return r.last < cp; });
  if (it == end || it->first > codepoint) return 0;
  return it->flags;
}

size_t utf8_sequence_length(unsigned char lead) {
  if (lead < 0xC0) return 1;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  if (lead < 0xF8) return 4;
  return 1;
}

DecodedCodepoint decode_utf8(std::string_view text, size_t pos) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(pos);
  if (lead < 0x80) return {lead, 1};
  size_t need;
  uint32_t cp;
  // Valid range of the second byte, which rules out overlong forms, surrogates and > U+10FFFF.
  unsigned char lo = 0x80, hi = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    need = 1;
    cp = lead & 0x1F;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    need = 2;
    cp = lead & 0x0F;
    if (lead == 0xE0) lo = 0xA0;
    if (lead == 0xED) hi = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    need = 3;
    cp = lead & 0x07;
    if (lead == 0xF0) lo = 0x90;
    if (lead == 0xF4) hi = 0x8F;
  } else {
    return {kInvalidUtf8, 1};
  }
  size_t i = 1;
  for (; i <= need; ++i) {
    if (pos + i >= text.size()) return {kInvalidUtf8, i, true};
    const unsigned char c = byte(pos + i);
    const bool ok = i == 1 ? (c >= lo && c <= hi) : (c >= 0x80 && c <= 0xBF);
    if (!ok) return {kInvalidUtf8, i};
    cp = (cp << 6) | (c & 0x3F);
  }
  return {cp, need + 1};
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace llamascope
