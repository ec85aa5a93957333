// The records and trace events of `llamascope profile` (docs/results.md): the ops and steps the observer saw,
// how an op's weights, rows and roof appear in its llamascope.layer/2 record, Chrome Trace Event slices, and
// the Collector that turns steps into records, slices and the summary's totals.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/forward.h"
#include "harness/machine_roofs.h"
#include "harness/profile_table.h"
#include "harness/records.h"
#include "kernels/kernel_set.h"

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

// One op as the observer saw it, with when it ended (ns since the profile started).
struct OpRecord {
  OpEvent event;
  int64_t end_ns = 0;
  int64_t start_ns() const { return end_ns - static_cast<int64_t>(event.ns); }
};

struct Step {
  const char* phase;  // "prefill" or "decode"
  int index;
  int64_t pos0;
  int64_t tokens;
  int64_t start_ns, end_ns;
  std::vector<OpRecord> ops;
  uint64_t op_ns() const {
    uint64_t sum = 0;
    for (const OpRecord& o : ops) sum += o.event.ns;
    return sum;
  }
};

// Turns observed steps into step and layer records, trace slices (step > layer > op) and the summary's
// totals.
class Collector {
 public:
  Collector(KernelSet& kernels, const ModelConfig& c, const MachineRoofs& roofs, std::string run_id,
            double weight_stream_bytes, int threads);
  void add_step(const Step& step);
  // The trace's metadata events: the process named after the model, the forward's track after the kernels.
  void name_trace(const std::string& model_name, const std::string& kernels, int threads);

  std::vector<nlohmann::json> records;
  nlohmann::json trace = nlohmann::json::array();
  std::map<std::string, OpTotals> decode_totals, prefill_totals;
  std::map<int, uint64_t> decode_layer_ns;
  std::vector<std::string> op_order;
  std::vector<double> decode_coverage;
  double prefill_coverage = 0;
  uint64_t decode_wall_ns = 0;

 private:
  void add_op(const Step& step, const OpRecord& o);
  // The backend that ran the op; a grouped matmul split over backends names each ("simd,scalar").
  std::string backend_name(const OpEvent& e);
  const std::string& backend_of_type(OpKind kind, TensorType type);

  KernelSet& kernels_;
  const ModelConfig& c_;
  const MachineRoofs& roofs_;
  const std::string run_id_;
  const double weight_stream_bytes_;
  const int threads_;
  std::map<std::pair<int, int>, std::string> backend_of_;  // (op kind, type) -> backend name
};
// What the layer record of one op says beyond the event itself.
struct LayerFacts {
  const char* phase;
  int step;
  int64_t rows;
  double bytes, flops;  // OpDesc::bytes(), flops()
  WeightFields weight;
  std::string backend;
  OpRoof roof;
  double roof_weight_bytes;  // of bytes, the weights'
  int64_t start_ns;
};
nlohmann::json layer_record(const std::string& run_id, const OpEvent& e, const LayerFacts& f);

}  // namespace llamascope
