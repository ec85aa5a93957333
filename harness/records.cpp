#include "harness/records.h"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>

#include "base/error.h"
#include "engine/model.h"
#include "harness/common.h"
#include "harness/environment.h"

namespace llamascope {

// ---- statistics ----

nlohmann::json SampleStats::to_json() const {
  return {{"median", median}, {"mean", mean}, {"stddev", stddev},
          {"min", min},       {"max", max},   {"samples", samples}};
}

SampleStats summarize(std::vector<double> samples) {
  SampleStats s;
  s.samples = samples;
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  const size_t n = samples.size();
  s.min = samples.front();
  s.max = samples.back();
  s.median = n % 2 ? samples[n / 2] : 0.5 * (samples[n / 2 - 1] + samples[n / 2]);
  double sum = 0;
  for (double v : samples) sum += v;
  s.mean = sum / static_cast<double>(n);
  if (n > 1) {
    double squares = 0;
    for (double v : samples) squares += (v - s.mean) * (v - s.mean);
    s.stddev = std::sqrt(squares / static_cast<double>(n - 1));
  }
  return s;
}

// ---- SHA-256 (OpenSSL's libcrypto) ----
namespace {

// One incremental SHA-256 through OpenSSL's EVP interface; the context is freed on every path.
class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new(), &EVP_MD_CTX_free) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1)
      throw Error("SHA-256: cannot initialise OpenSSL's digest");
  }
  void update(const void* data, size_t size) {
    if (EVP_DigestUpdate(ctx_.get(), data, size) != 1) throw Error("SHA-256: OpenSSL digest update failed");
  }
  std::string hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_DigestFinal_ex(ctx_.get(), digest, &length) != 1) throw Error("SHA-256: OpenSSL digest failed");
    std::string out;
    out.reserve(2 * length);
    for (unsigned int i = 0; i < length; ++i) out += fmt::format("{:02x}", digest[i]);
    return out;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx_;
};

}  // namespace

std::string sha256_hex(const void* data, size_t size) {
  Sha256 h;
  h.update(data, size);
  return h.hex();
}

std::string file_sha256(const std::string& path) {
  std::error_code ec;
  const std::string absolute = std::filesystem::absolute(path, ec).lexically_normal().string();
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw Error(path + ": cannot stat: " + std::strerror(errno));
  const std::string key =
      fmt::format("{}|{}|{}.{:09d}", absolute, static_cast<uint64_t>(st.st_size),
                  static_cast<int64_t>(st.st_mtim.tv_sec), static_cast<int64_t>(st.st_mtim.tv_nsec));
  const std::string dir = cache_dir();
  const std::string cache_path = dir.empty() ? std::string() : dir + "/sha256.json";
  nlohmann::json cache = cache_path.empty() ? nlohmann::json::object() : read_json_cache(cache_path);
  if (!cache_path.empty()) {
    if (cache.contains(key) && cache[key].is_string() && cache[key].get<std::string>().size() == 64)
      return cache[key].get<std::string>();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open for hashing");
  Sha256 h;
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    h.update(buffer.data(), static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) throw Error(path + ": read error while hashing");
  const std::string digest = h.hex();
  if (!cache_path.empty()) {
    // Entries for files that no longer match (rewritten models) are dropped as they are replaced.
    for (auto it = cache.begin(); it != cache.end();)
      it = it.key().rfind(absolute + "|", 0) == 0 ? cache.erase(it) : std::next(it);
    cache[key] = digest;
    try {
      std::filesystem::create_directories(dir);
      write_file_atomically(cache_path, cache.dump(1) + "\n");
    } catch (const std::exception&) {
      // An unwritable cache only costs hashing again next time.
    }
  }
  return digest;
}

// The hyper-parameters the model identity keeps (its "config"), each under its name in ModelConfig.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ModelConfig, dim, n_layers, n_heads, n_kv_heads, head_dim, hidden_dim,
                                   vocab_size, context_length, tied_embeddings)

nlohmann::json model_identity(const Model& model) {
  std::map<std::string, int> type_counts;
  for (const Weight* w : model.all_weights()) ++type_counts[type_name(w->type)];
  nlohmann::json tensor_types = nlohmann::json::object();
  for (const auto& [type, count] : type_counts) tensor_types[type] = count;
  std::error_code ec;
  const uint64_t file_bytes = std::filesystem::file_size(model.path, ec);
  return {{"path", model.path},
          {"name", std::filesystem::path(model.path).filename().string()},
          {"sha256", file_sha256(model.path)},
          {"format", model.format_name()},
          {"architecture", model.config.architecture},
          {"parameter_count", model.parameter_count()},
          {"file_bytes", ec ? 0 : file_bytes},
          {"weight_bytes", model.weight_bytes()},
          {"weight_types", model.weight_type_summary()},
          {"tensor_types", tensor_types},
          {"config", model.config}};
}

// ---- output formats ----

OutputFormat parse_output_format(const std::string& name) {
  if (name == "md") return OutputFormat::md;
  if (name == "jsonl") return OutputFormat::jsonl;
  if (name == "csv") return OutputFormat::csv;
  throw Error("-o: unknown output format '" + name + "' (md, jsonl or csv)");
}

nlohmann::json value_at(const nlohmann::json& record, const char* pointer) {
  const nlohmann::json::json_pointer p(pointer);
  return record.contains(p) ? record.at(p) : nlohmann::json(nullptr);
}

namespace {

// The value under a column's dotted name: the name read as a JSON pointer.
nlohmann::json named_value(const nlohmann::json& record, const std::string& name) {
  std::string pointer = "/" + name;
  std::replace(pointer.begin(), pointer.end(), '.', '/');
  return value_at(record, pointer.c_str());
}

// The CSV's header: the columns' names, a statistics column's expanded into one per field.
std::vector<std::string> csv_names(std::span<const Column> columns) {
  std::vector<std::string> names;
  for (const Column& c : columns) {
    if (c.csv == CsvCells::value) names.push_back(c.name);
    if (c.csv == CsvCells::stats)
      for (const char* field : SampleStats::kFields) names.push_back(std::string(c.name) + "." + field);
  }
  return names;
}

std::string plain(const nlohmann::json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) return fmt::format("{:.2f}", v.get<double>());
  return v.dump();
}

std::string md_cell(const nlohmann::json& v, MdStyle style) {
  if (v.is_null()) return "-";
  switch (style) {
    case MdStyle::text:
      return plain(v);
    case MdStyle::integer:
      return v.is_number() ? fmt::format("{:.0f}", v.get<double>()) : plain(v);
    case MdStyle::bytes:
      return v.is_number() ? format_bytes(v.get<double>()) : plain(v);
    case MdStyle::count_millions:
      return v.is_number() ? fmt::format("{:.2f} M", v.get<double>() / 1e6) : plain(v);
    case MdStyle::percent:
      return v.is_number() ? fmt::format("{:.1f} %", 100 * v.get<double>()) : plain(v);
    case MdStyle::millis:
      return v.is_number() ? fmt::format("{:.3f}", v.get<double>() / 1e6) : plain(v);
    case MdStyle::mean_stddev:
      if (v.is_object() && v.contains("mean") && v.contains("stddev"))
        return fmt::format("{:.2f} ± {:.2f}", v["mean"].get<double>(), v["stddev"].get<double>());
      return plain(v);
  }
  return plain(v);
}

std::string csv_cell(const nlohmann::json& v) {
  std::string s;
  if (v.is_null()) return "";
  if (v.is_string())
    s = v.get<std::string>();
  else
    s = v.dump();  // numbers at full precision; arrays/objects as compact JSON
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string quoted = "\"";
  for (char ch : s) quoted += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return quoted + "\"";
}

}  // namespace

std::string format_md_header(std::span<const Column> columns) {
  std::string head = "|", rule = "|";
  for (const Column& c : columns) {
    if (!*c.md_header) continue;
    head += fmt::format(" {} |", c.md_header);
    const bool numeric = c.md_style != MdStyle::text;
    rule += numeric ? " ---: |" : " --- |";
  }
  return head + "\n" + rule + "\n";
}

std::string format_md_row(const nlohmann::json& record, std::span<const Column> columns) {
  std::string row = "|";
  for (const Column& c : columns)
    if (*c.md_header) row += fmt::format(" {} |", md_cell(named_value(record, c.name), c.md_style));
  return row + "\n";
}

std::string format_records(std::span<const nlohmann::json> records, std::span<const Column> columns,
                           OutputFormat format) {
  std::string out;
  switch (format) {
    case OutputFormat::jsonl:
      for (const nlohmann::json& r : records) out += r.dump() + "\n";
      break;
    case OutputFormat::csv: {
      const std::vector<std::string> names = csv_names(columns);
      for (size_t i = 0; i < names.size(); ++i) out += (i ? "," : "") + csv_cell(names[i]);
      out += "\n";
      for (const nlohmann::json& r : records) {
        for (size_t i = 0; i < names.size(); ++i) out += (i ? "," : "") + csv_cell(named_value(r, names[i]));
        out += "\n";
      }
      break;
    }
    case OutputFormat::md:
      out += format_md_header(columns);
      for (const nlohmann::json& r : records) out += format_md_row(r, columns);
      break;
  }
  return out;
}

std::string shell_quote(const std::string& arg) {
  if (!arg.empty() &&
      arg.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./,=+:@%") ==
          std::string::npos)
    return arg;
  std::string out = "'";
  for (char ch : arg) out += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return out + "'";
}

const std::string& program_path() {
  static const std::string path = [] {
    std::error_code ec;
    const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) return std::string("llamascope");
    const std::filesystem::path cwd = std::filesystem::current_path(ec);
    if (!ec) {
      const std::filesystem::path rel = exe.lexically_relative(cwd);
      if (!rel.empty() && *rel.begin() != "..") return "./" + rel.string();
    }
    return exe.string();
  }();
  return path;
}

}  // namespace llamascope
