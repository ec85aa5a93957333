#include "harness/profile_records.h"

#include <utility>

namespace llamascope {

WeightFields weight_fields(const OpEvent& e) {
  const auto weights = e.weights();
  if (weights.empty()) return {nullptr, nullptr, nullptr};
  std::string names, types;
  int64_t rows = 0;
  bool one_type = true;
  for (const Weight* w : weights) {
    names += (names.empty() ? "" : ",") + w->name;
    types += std::string(types.empty() ? "" : ",") + type_name(w->type);
    one_type = one_type && w->type == weights.front()->type;
    rows += w->rows;
  }
  return {names, one_type ? std::string(type_name(weights.front()->type)) : types,
          nlohmann::json::array({rows, weights.front()->cols})};
}

int64_t op_rows(const OpEvent& e) {
  const std::string name = e.op;
  return e.layer < 0 && (name == "output_norm" || name == "output") ? 1 : e.batch;
}

nlohmann::json trace_event(const std::string& name, const char* category, int64_t start_ns, int64_t dur_ns,
                           nlohmann::json args) {
  return {{"name", name},
          {"cat", category},
          {"ph", "X"},
          {"pid", 1},
          {"tid", 1},
          {"ts", start_ns / 1000.0},
          {"dur", dur_ns / 1000.0},
          {"args", std::move(args)}};
}

nlohmann::json layer_record(const std::string& run_id, const OpEvent& e, const LayerFacts& f) {
  return {{"schema", "llamascope.layer/2"},
          {"run_id", run_id},
          {"phase", f.phase},
          {"step", f.step},
          {"pos0", e.pos0},
          {"batch", e.batch},
          {"rows", f.rows},
          {"layer", e.layer},
          {"op", e.op},
          {"op_kind", op_kind_name(e.kind)},
          {"backend", f.backend},
          {"weight_name", f.weight.name},
          {"weight_type", f.weight.type},
          {"weight_shape", f.weight.shape},
          {"n_keys", e.n_keys},
          {"ns", e.ns},
          {"bytes", f.cost.bytes},
          {"flops", f.cost.flops},
          {"start_ns", f.start_ns},
          {"roof",
           {{"compute", f.roof.compute},
            {"compute_gflops", f.roof.compute_gflops},
            {"memory", f.roof.memory},
            {"memory_gbps", f.roof.memory_gbps},
            {"weight_bytes", f.roof_weight_bytes}}}};
}

}  // namespace llamascope
