// Building and writing result records (docs/results.md): summary statistics of raw samples, the model's
// identity (with a cached SHA-256 of the file), and one table of columns that drives every output format
// (Markdown table, CSV, JSONL), so a field is named in exactly one place. JSON is always built with
// nlohmann::json, never by hand.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

namespace llamascope {

class Model;

// Summary of raw samples: the record keeps the samples themselves too. stddev is the sample standard
// deviation (n - 1 in the denominator; 0 for a single sample).
struct SampleStats {
  double median = 0, mean = 0, stddev = 0, min = 0, max = 0;
  std::vector<double> samples;
  // The fields of to_json(), in the order a CSV lists them.
  static constexpr const char* kFields[] = {"median", "mean", "stddev", "min", "max", "samples"};
  nlohmann::json to_json() const;
};
SampleStats summarize(std::vector<double> samples);

// SHA-256 of bytes, lowercase hex.
std::string sha256_hex(const void* data, size_t size);
// SHA-256 of a file's bytes; remembered in the cache folder keyed by absolute path, size and modification
// time, so a multi-gigabyte model is hashed once. Throws Error when the file cannot be read.
std::string file_sha256(const std::string& path);

// The model's identity for records: path, file name, sha256, format, architecture, parameter count, bytes,
// tensor types (counts per type) and the hyper-parameters.
nlohmann::json model_identity(const Model& model);

// ---- output formats ----
enum class OutputFormat { md, jsonl, csv };
OutputFormat parse_output_format(const std::string& name);  // Error for anything else

// How a column shows in the Markdown table.
enum class MdStyle {
  text,  // as is (numbers with up to 2 decimals)
  integer,
  bytes,           // "1.21 MiB"
  count_millions,  // "0.29 M"
  mean_stddev,     // an object with mean and stddev: "13851.20 ± 12.31"
  percent,         // a fraction shown as "63.1 %"
  millis,          // nanoseconds shown as milliseconds: "12.345"
};

// What a column puts in the CSV.
enum class CsvCells {
  value,  // the value under the column's name
  none,   // nothing: a Markdown-only composite such as mean ± stddev
  stats,  // a SampleStats object: a cell for each of its fields ("NAME.median", ..., "NAME.samples")
};

// One column of the tabular formats: `name` is the CSV header and where the value lives in the record, a
// dot for each level of nesting ("tokens_per_second.median" is the record's /tokens_per_second/median). A
// column with an empty md_header is CSV-only.
struct Column {
  const char* name;
  const char* md_header;
  MdStyle md_style = MdStyle::text;
  CsvCells csv = CsvCells::value;
};

// The value at `pointer`, or null when the record lacks it.
nlohmann::json value_at(const nlohmann::json& record, const char* pointer);

// Renders records: JSONL (one compact object per line; the columns are not used), CSV (RFC 4180, header
// line, every csv column) or a Markdown table (every column with an md_header).
std::string format_records(std::span<const nlohmann::json> records, std::span<const Column> columns,
                           OutputFormat format);
std::string format_md_header(std::span<const Column> columns);
std::string format_md_row(const nlohmann::json& record, std::span<const Column> columns);

// Shell-quotes one argument for a `repro` command line (plain words stay as they are).
std::string shell_quote(const std::string& arg);

// The `llamascope` executable to name in repro lines: /proc/self/exe, relative to the current directory
// when it lies below it ("./build/llamascope"), else absolute.
const std::string& program_path();

}  // namespace llamascope
