#include "harness/profile_records.h"

#include <fmt/format.h>

#include <algorithm>
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
          {"clock", e.clock},
          {"bytes", f.bytes},
          {"flops", f.flops},
          {"start_ns", f.start_ns},
          {"roof",
           {{"compute", f.roof.compute},
            {"compute_gflops", f.roof.compute_gflops},
            {"memory", f.roof.memory},
            {"memory_gbps", f.roof.memory_gbps},
            {"weight_bytes", f.roof_weight_bytes}}}};
}

Collector::Collector(KernelSet& kernels, const ModelConfig& c, const MachineRoofs& roofs, std::string run_id,
                     double weight_stream_bytes, int threads)
    : kernels_(kernels),
      c_(c),
      roofs_(roofs),
      run_id_(std::move(run_id)),
      weight_stream_bytes_(weight_stream_bytes),
      threads_(threads) {}

void Collector::name_trace(const std::string& model_name, const std::string& kernels, int threads) {
  trace.push_back({{"name", "process_name"},
                   {"ph", "M"},
                   {"pid", 1},
                   {"tid", 1},
                   {"args", {{"name", "llamascope profile: " + model_name}}}});
  trace.push_back({{"name", "thread_name"},
                   {"ph", "M"},
                   {"pid", 1},
                   {"tid", 1},
                   {"args", {{"name", fmt::format("forward (kernels {}, {} threads)", kernels, threads)}}}});
}

void Collector::add_step(const Step& step) {
  const uint64_t wall = static_cast<uint64_t>(step.end_ns - step.start_ns);
  const uint64_t op_ns = step.op_ns();
  const double coverage = wall ? static_cast<double>(op_ns) / wall : 0;
  if (step.index == 0)
    prefill_coverage = coverage;
  else
    decode_coverage.push_back(coverage), decode_wall_ns += wall;
  records.push_back({{"schema", "llamascope.step/1"},
                     {"run_id", run_id_},
                     {"phase", step.phase},
                     {"step", step.index},
                     {"pos0", step.pos0},
                     {"tokens", step.tokens},
                     {"ns", wall},
                     {"op_ns", op_ns},
                     {"coverage", coverage},
                     {"start_ns", step.start_ns}});
  trace.push_back(trace_event(fmt::format("{} step {} ({} tokens)", step.phase, step.index, step.tokens),
                              "step", step.start_ns, step.end_ns - step.start_ns,
                              {{"pos0", step.pos0}, {"op_ns", op_ns}, {"coverage", coverage}}));
  int current_layer = -2;
  int64_t layer_start = 0, layer_end = 0;
  auto close_layer = [&] {
    if (current_layer >= 0)
      trace.push_back(trace_event(fmt::format("layer {}", current_layer), "layer", layer_start,
                                  layer_end - layer_start, {{"layer", current_layer}}));
  };
  for (const OpRecord& o : step.ops) {
    if (o.event.layer != current_layer) {
      close_layer();
      current_layer = o.event.layer;
      layer_start = o.start_ns();
    }
    layer_end = o.end_ns;
    add_op(step, o);
  }
  close_layer();
}

void Collector::add_op(const Step& step, const OpRecord& o) {
  const OpEvent& e = o.event;
  const int64_t rows = op_rows(e);
  const OpDesc desc = e.desc(c_, rows);
  double bytes = desc.bytes();
  const double flops = desc.flops();
  const WeightFields weight = weight_fields(e);
  const std::string backend = backend_name(e);
  double op_weight_bytes = 0;
  for (const Weight* w : e.weights()) op_weight_bytes += static_cast<double>(w->bytes());
  // A matmul streams its weights as the backend holds them (an F32 weight held in 16 bits: half the file's).
  if (e.kind == OpKind::matmul && e.weight_read_bytes > 0) {
    bytes += static_cast<double>(e.weight_read_bytes) - op_weight_bytes;
    op_weight_bytes = static_cast<double>(e.weight_read_bytes);
  }
  const OpRoof roof = roof_for(roofs_,
                               compute_kind(op_kind_name(e.kind), backend,
                                            weight.type.is_null() ? "" : weight.type.get<std::string>()),
                               bytes, op_weight_bytes, weight_stream_bytes_, threads_);
  records.push_back(layer_record(run_id_, e,
                                 {step.phase, step.index, rows, bytes, flops, weight, backend, roof,
                                  std::min(op_weight_bytes, bytes), o.start_ns()}));
  trace.push_back(trace_event(e.op, "op", o.start_ns(), static_cast<int64_t>(e.ns),
                              {{"layer", e.layer},
                               {"bytes", bytes},
                               {"flops", flops},
                               {"weight_type", weight.type.is_null() ? nlohmann::json("-") : weight.type}}));
  (step.index == 0 ? prefill_totals : decode_totals)[e.op].add(e.ns, bytes, flops, roof);
  if (step.index > 0) decode_layer_ns[e.layer] += e.ns;
  if (std::find(op_order.begin(), op_order.end(), e.op) == op_order.end()) op_order.push_back(e.op);
}

std::string Collector::backend_name(const OpEvent& e) {
  if (e.n_weights == 0) return backend_of_type(e.kind, TensorType::F32);
  std::string names;
  for (const Weight* w : e.weights()) {
    const std::string& name = backend_of_type(e.kind, w->type);
    if (names.find(name) == std::string::npos) names += (names.empty() ? "" : ",") + name;
  }
  return names;
}

const std::string& Collector::backend_of_type(OpKind kind, TensorType type) {
  const auto key = std::make_pair(static_cast<int>(kind), static_cast<int>(type));
  auto it = backend_of_.find(key);
  if (it == backend_of_.end()) it = backend_of_.emplace(key, kernels_.for_op(kind, type).name()).first;
  return it->second;
}

}  // namespace llamascope
