// How each GGUF weight type maps onto a oneDNN matmul with grouped weight decompression: integer codes of
// one oneDNN data type, one scale per group of `group` elements along a row and, for the types whose blocks
// also store a minimum, one offset per group (w = scale * code + offset, exactly as the file's blocks
// define it). Pure C++ (no oneDNN types) so that its exactness is testable on its own.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "kernels/backend.h"

namespace llamascope {

enum class OnednnCode { s8, u8, s4, u4 };

struct OnednnQuantMapping {
  OnednnCode code = OnednnCode::s8;
  int group = 32;           // elements along a row sharing one scale (and offset)
  bool has_offset = false;  // Q4_1, Q5_1, Q2_K, Q4_K, Q5_K
};
// The mapping of a block-quantized type; nullopt for the float types and activation-only formats.
std::optional<OnednnQuantMapping> onednn_quant_mapping(TensorType type);

// A weight of rows x cols unpacked per its mapping: codes[r * cols + c] (one byte each, before any 4-bit
// packing), scales and offsets [r * groups + g]; offsets empty without has_offset. For every element,
// scale * code + offset equals dequantize_row's value up to float rounding of that formula.
struct OnednnQuantUnpacked {
  std::vector<int8_t> codes;  // s8 / s4 values, or u8 / u4 values stored in the same bytes
  std::vector<float> scales;
  std::vector<float> offsets;
  int64_t groups = 0;
};
OnednnQuantUnpacked onednn_unpack(const Weight& w, const OnednnQuantMapping& mapping);

}  // namespace llamascope
