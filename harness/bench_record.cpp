// `llamascope bench`: the record of one row (schema in docs/results.md, `llamascope.bench/1`) and the
// outputs rows stream to. One table of columns (kBenchColumns) drives the Markdown, CSV and JSONL outputs.
#include <cstdio>
#include <string>

#include "harness/bench.h"
#include "harness/bench_columns.h"
#include "harness/common.h"

namespace llamascope::bench {

namespace {

// The columns of every tabular output; JSONL writes the whole record.
const Column kBenchColumns[] = {
    bench_columns::kModel,
    {"model.file_bytes", "size", MdStyle::bytes},
    {"model.parameter_count", "params", MdStyle::count_millions},
    {"model.weight_types", "types"},
    bench_columns::kKernels,
    bench_columns::kThreads,
    bench_columns::kTest,
    {"tokens_per_second", "t/s", MdStyle::mean_stddev, CsvCells::stats},
    {"time_to_first_token_ns.median", "ttft ms", MdStyle::millis},
    {"time_per_output_token_ns.median", "ms/token", MdStyle::millis},
    {"bandwidth.fraction", "of BW", MdStyle::percent},
    {"bandwidth.achieved_gbps", ""},
    {"bandwidth.machine_gbps", ""},
    {"memory.peak_rss_bytes", "peak RSS", MdStyle::bytes},
    {"memory.weight_bytes", ""},
    {"memory.kv_cache_bytes", "KV", MdStyle::bytes},
    {"memory.kv_type", ""},
    {"n_prompt", ""},
    {"n_gen", ""},
    {"repetitions", ""},
    {"model.path", ""},
    {"model.sha256", ""},
    {"run_id", ""},
    {"repro", ""},
};

// Bytes a test reads from memory: every weight a pass streams, as the kernels hold it (Forward::
// weight_read_bytes: the token table only for its rows), plus the KV-cache rows attention reads, pass by
// pass.
double bytes_read(const Model& model, const Forward& forward, const BenchTest& test, TensorType kv_type) {
  const ModelConfig& c = model.config;
  const double weights = static_cast<double>(forward.weight_read_bytes());
  // K and V of one position, all layers.
  const double kv_row = 2.0 * c.n_layers * c.kv_dim() * (kv_type == TensorType::F16 ? 2 : 4);
  double total = 0;
  int64_t pos = 0;
  if (test.n_prompt > 0) {
    total += weights + kv_row * test.n_prompt;
    pos = test.n_prompt;
  } else {
    pos = 1;  // the untimed BOS pass
  }
  for (int i = 0; i < test.n_gen; ++i, ++pos) total += weights + kv_row * static_cast<double>(pos + 1);
  return total;
}

std::string repro_line(const std::string& model_path, const std::string& kernels, int threads,
                       const BenchTest& test, const BenchArgs& args) {
  const std::string sets =
      args.ab.enabled() ? fmt::format("--ab {} --vs {}", shell_quote(args.ab.a), shell_quote(args.ab.b))
                        : "-k " + shell_quote(kernels);
  std::string line = fmt::format("{} bench -m {} {} -t {}", shell_quote(program_path()),
                                 shell_quote(model_path), sets, threads);
  if (test.n_prompt > 0 && test.n_gen > 0)
    line += fmt::format(" -p 0 -n 0 --pg {},{}", test.n_prompt, test.n_gen);
  else
    line += fmt::format(" -p {} -n {}", test.n_prompt, test.n_gen);
  if (args.kv_type != "f32") line += " --kv-type " + args.kv_type;
  return line + fmt::format(" -r {} --warmup {} -o jsonl", args.repetitions, args.warmup);
}

nlohmann::json memory_json(const RowContext& row, bool per_row_peak) {
  return {{"peak_rss_bytes", peak_rss_bytes()},
          {"peak_rss_scope", per_row_peak ? "row" : "process"},
          {"weight_bytes", row.model.weight_bytes()},
          {"prepared_bytes", row.forward.prepared_bytes()},
          {"kv_cache_bytes", row.forward.kv_cache_bytes()},
          {"kv_type", row.args.kv_type},
          {"activation_bytes", row.forward.activation_bytes()},
          {"context", row.forward.context()}};
}

nlohmann::json bandwidth_json(const RowContext& row, const BenchTest& test, double median_tps) {
  const double bytes_per_token =
      bytes_read(row.model, row.forward, test, kv_type_from_flag(row.args.kv_type)) /
      (test.n_prompt + test.n_gen);
  const double achieved_gbps = median_tps * bytes_per_token / 1e9;
  const MachineLimits& limits = row.limits;
  return {{"bytes_per_token", bytes_per_token},
          {"achieved_gbps", achieved_gbps},
          {"machine_gbps", limits.bandwidth_gbps},
          {"machine_source", limits.bandwidth_source},
          {"fraction", limits.bandwidth_gbps > 0 ? achieved_gbps / limits.bandwidth_gbps : 0.0}};
}

}  // namespace

nlohmann::json bench_record(const RowContext& row, const BenchTest& test, size_t position,
                            const RowTimes& times, bool per_row_peak) {
  const SampleStats tps_stats = summarize(times.tps);
  return {
      {"schema", "llamascope.bench/1"},
      {"run_id", row.run_id},
      {"index", position},
      {"time", utc_now_iso8601()},
      {"test", test.name()},
      {"n_prompt", test.n_prompt},
      {"n_gen", test.n_gen},
      {"kernels", row.kernels.spec()},
      {"backends", row.kernels.backend_names()},
      {"backend_descriptions", row.kernels.descriptions()},
      {"threads", row.n_threads},
      {"repetitions", row.args.repetitions},
      {"warmup", row.args.warmup},
      {"sampling", "greedy"},
      {"model", row.identity},
      {"tokens_per_second", tps_stats.to_json()},
      {"time_ns", summarize(times.timed_ns).to_json()},
      {"time_to_first_token_ns",
       test.n_gen > 0 ? summarize(times.ttft_ns).to_json() : nlohmann::json(nullptr)},
      {"time_per_output_token_ns",
       test.n_gen > 0 ? summarize(times.tpot_ns).to_json() : nlohmann::json(nullptr)},
      {"memory", memory_json(row, per_row_peak)},
      {"bandwidth", bandwidth_json(row, test, tps_stats.median)},
      {"environment", row.environment},
      {"repro", repro_line(row.model_path, row.kernel_spec, row.n_threads, test, row.args)},
  };
}

RowOutputs::RowOutputs(const BenchArgs& args, std::function<void()> before_stdout)
    : args_(args),
      format_(parse_output_format(args.output)),
      stdout_format_(args.out_file.empty() ? format_ : OutputFormat::md),
      before_stdout_(std::move(before_stdout)) {
  if (stdout_format_ == OutputFormat::md) emit_stdout(format_md_header(kBenchColumns));
  if (stdout_format_ == OutputFormat::csv)
    emit_stdout(format_records(std::span<const nlohmann::json>(), kBenchColumns, OutputFormat::csv));
}

void RowOutputs::emit_stdout(const std::string& text) {
  before_stdout_();
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

void RowOutputs::add(nlohmann::json record) {
  records_.push_back(std::move(record));
  const nlohmann::json& last = records_.back();
  if (!args_.out_file.empty())
    write_file_atomically(args_.out_file, format_records(records_, kBenchColumns, format_));
  switch (stdout_format_) {
    case OutputFormat::md:
      emit_stdout(format_md_row(last, kBenchColumns));
      break;
    case OutputFormat::jsonl:
      emit_stdout(last.dump() + "\n");
      break;
    case OutputFormat::csv: {
      std::string table = format_records(std::span<const nlohmann::json>(&last, 1), kBenchColumns, format_);
      emit_stdout(table.substr(table.find('\n') + 1));  // the header went out first
      break;
    }
  }
}

}  // namespace llamascope::bench
