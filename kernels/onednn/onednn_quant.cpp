#include "kernels/onednn/onednn_quant.h"

#include <cstring>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "kernels/quant.h"
#include "kernels/quant_blocks.h"

namespace llamascope {
namespace {

constexpr uint16_t kHalfOne = 0x3C00;

// The codes of a block come from the project's own dequantizer run on a copy of the block whose scales
// are set to 1 and minimums to 0: then dequantize_row yields the codes themselves, so the bit layouts stay
// in one place (quant.cpp). Each function neutralizes one block type and reads its group scales/offsets.
void neutral(BlockQ4_0& b) {
  b.d = kHalfOne;
}
void neutral(BlockQ5_0& b) {
  b.d = kHalfOne;
}
void neutral(BlockQ8_0& b) {
  b.d = kHalfOne;
}
void neutral(BlockQ4_1& b) {
  b.d = kHalfOne, b.m = 0;
}
void neutral(BlockQ5_1& b) {
  b.d = kHalfOne, b.m = 0;
}
void neutral(BlockQ2_K& b) {
  std::memset(b.scales, 0x01, sizeof b.scales), b.d = kHalfOne, b.dmin = 0;
}
void neutral(BlockQ3_K& b) {  // every 6-bit scale 33 (= 1 after the offset of 32)
  std::memset(b.scales, 0x11, 8);
  std::memset(b.scales + 8, 0xAA, 4);
  b.d = kHalfOne;
}
template <typename B>
void neutral_k4(B& b) {  // every 6-bit scale 1, every min 0
  const uint8_t bytes[kScaleBytesK] = {1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1};
  std::memcpy(b.scales, bytes, sizeof bytes);
  b.d = kHalfOne, b.dmin = 0;
}
void neutral(BlockQ4_K& b) {
  neutral_k4(b);
}
void neutral(BlockQ5_K& b) {
  neutral_k4(b);
}
void neutral(BlockQ6_K& b) {
  std::memset(b.scales, 1, sizeof b.scales), b.d = kHalfOne;
}

float half(uint16_t h) {
  return fp16_to_fp32(h);
}

// Scale and offset of each group of the block, in element order.
template <typename B>
void group_params(const B& b, float* s, float*) requires(std::is_same_v<B, BlockQ4_0> ||
                                                         std::is_same_v<B, BlockQ5_0> ||
                                                         std::is_same_v<B, BlockQ8_0>) {
  s[0] = half(b.d);
}
template <typename B>
void group_params(const B& b, float* s,
                  float* o) requires(std::is_same_v<B, BlockQ4_1> || std::is_same_v<B, BlockQ5_1>) {
  s[0] = half(b.d), o[0] = half(b.m);
}
void group_params(const BlockQ2_K& b, float* s, float* o) {
  for (int j = 0; j < kBlockK / 16; ++j) {
    s[j] = half(b.d) * static_cast<float>(b.scales[j] & 0xF);
    o[j] = -(half(b.dmin) * static_cast<float>(b.scales[j] >> 4));
  }
}
void group_params(const BlockQ3_K& b, float* s, float*) {
  for (int j = 0; j < kBlockK / 16; ++j) s[j] = half(b.d) * static_cast<float>(q3_k_scale(b.scales, j));
}
template <typename B>
void group_params(const B& b, float* s,
                  float* o) requires(std::is_same_v<B, BlockQ4_K> || std::is_same_v<B, BlockQ5_K>) {
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    k4_scale_min(b.scales, j, &sc, &m);
    s[j] = half(b.d) * static_cast<float>(sc);
    o[j] = -(half(b.dmin) * static_cast<float>(m));
  }
}
void group_params(const BlockQ6_K& b, float* s, float*) {
  for (int j = 0; j < kBlockK / 16; ++j) s[j] = half(b.d) * static_cast<float>(b.scales[j]);
}

template <typename B>
void unpack_rows(const Weight& w, const OnednnQuantMapping& m, OnednnQuantUnpacked& out) {
  constexpr bool k_quant = std::is_same_v<B, BlockQ2_K> || std::is_same_v<B, BlockQ3_K> ||
                           std::is_same_v<B, BlockQ4_K> || std::is_same_v<B, BlockQ5_K> ||
                           std::is_same_v<B, BlockQ6_K>;
  const int64_t blocks = w.cols / (k_quant ? kBlockK : kBlock32);
  const int64_t groups_per_block = out.groups / blocks;
  std::vector<B> copy(static_cast<size_t>(blocks));
  std::vector<float> values(static_cast<size_t>(w.cols));
  std::vector<float> unused(static_cast<size_t>(groups_per_block));
  for (int64_t r = 0; r < w.rows; ++r) {
    const B* src = reinterpret_cast<const B*>(w.row(r));
    for (int64_t b = 0; b < blocks; ++b) {
      B block;
      std::memcpy(&block, src + b, sizeof block);
      float* s = out.scales.data() + r * out.groups + b * groups_per_block;
      float* o = m.has_offset ? out.offsets.data() + r * out.groups + b * groups_per_block : unused.data();
      group_params(block, s, o);
      neutral(block);
      copy[static_cast<size_t>(b)] = block;
    }
    dequantize_row(w.type, copy.data(), values.data(), w.cols);
    int8_t* codes = out.codes.data() + r * w.cols;
    for (int64_t c = 0; c < w.cols; ++c) codes[c] = static_cast<int8_t>(static_cast<int>(values[c]));
  }
}

}  // namespace

// Signed codes where the type's offset is a fixed integer (q - 8, q - 16, q - 32, Q3_K's q - 4), unsigned
// codes with a per-group minimum otherwise; 4-bit codes where the values fit.
constexpr std::pair<TensorType, OnednnQuantMapping> kQuantMappings[] = {
    {TensorType::Q8_0, {OnednnCode::s8, 32, false}}, {TensorType::Q4_0, {OnednnCode::s4, 32, false}},
    {TensorType::Q5_0, {OnednnCode::s8, 32, false}}, {TensorType::Q4_1, {OnednnCode::u4, 32, true}},
    {TensorType::Q5_1, {OnednnCode::u8, 32, true}},  {TensorType::Q2_K, {OnednnCode::u4, 16, true}},
    {TensorType::Q3_K, {OnednnCode::s4, 16, false}}, {TensorType::Q4_K, {OnednnCode::u4, 32, true}},
    {TensorType::Q5_K, {OnednnCode::u8, 32, true}},  {TensorType::Q6_K, {OnednnCode::s8, 16, false}},
};

std::optional<OnednnQuantMapping> onednn_quant_mapping(TensorType type) {
  for (const auto& [t, mapping] : kQuantMappings)
    if (t == type) return mapping;
  return std::nullopt;
}

OnednnQuantUnpacked onednn_unpack(const Weight& w, const OnednnQuantMapping& m) {
  OnednnQuantUnpacked out;
  out.groups = w.cols / m.group;
  out.codes.resize(static_cast<size_t>(w.rows * w.cols));
  out.scales.resize(static_cast<size_t>(w.rows * out.groups));
  if (m.has_offset) out.offsets.resize(out.scales.size());
  const bool known = visit_block_type(w.type, [&](auto* tag) {
    using B = std::remove_pointer_t<decltype(tag)>;
    if constexpr (std::is_same_v<B, BlockQ8_1> || std::is_same_v<B, BlockQ8_K>) {
      throw std::logic_error("onednn_unpack: activation-only type");
    } else {
      unpack_rows<B>(w, m, out);
    }
  });
  if (!known) throw std::logic_error("onednn_unpack: not a block type");
  return out;
}

}  // namespace llamascope
