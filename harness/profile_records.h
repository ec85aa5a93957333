// The records and trace events of `llamascope profile` (docs/results.md): how an op's weights, rows and roof
// appear in its llamascope.layer/2 record, and a Chrome Trace Event slice.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/forward.h"
#include "harness/machine_roofs.h"
#include "harness/records.h"

namespace llamascope {

// The weights of an op as the layer record shows them. A grouped matmul (attn_qkv, ffn_gate_up) is a
// matmul by its weights stacked into one matrix: names joined with ",", the shared type (else the types
// joined with ","), and the stacked shape [sum of rows, cols].
struct WeightFields {
  nlohmann::json name, type, shape;
};
WeightFields weight_fields(const OpEvent& e);

// Activation rows the op processed: the batch, except output_norm and output (the last token only).
int64_t op_rows(const OpEvent& e);

// A complete ("X") slice on the forward's track; times in ns, written in µs.
nlohmann::json trace_event(const std::string& name, const char* category, int64_t start_ns, int64_t dur_ns,
                           nlohmann::json args = nlohmann::json::object());

// What the layer record of one op says beyond the event itself.
struct LayerFacts {
  const char* phase;
  int step;
  int64_t rows;
  OpCost cost;
  WeightFields weight;
  std::string backend;
  OpRoof roof;
  double roof_weight_bytes;  // of cost.bytes, the weights'
  int64_t start_ns;
};
nlohmann::json layer_record(const std::string& run_id, const OpEvent& e, const LayerFacts& f);

}  // namespace llamascope
