// `history add`: one JSONL result file into the store, in one transaction (a bad line rolls it back, so
// the file adds nothing). The environment, the model and the raw samples of each record go to their own
// tables, the rest of it to `results` (its indexed columns and the remaining body).
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>

#include "harness/environment.h"
#include "harness/history.h"
#include "harness/records.h"

namespace llamascope {
namespace {

using json = nlohmann::json;

// Statistics whose raw samples live in the samples table (docs/history.md).
const char* const kSampledStats[] = {"tokens_per_second", "time_ns"};

// One record, split into what the tables hold.
struct Row {
  int line = 0;
  std::string hash;  // SHA-256 of the canonical record: the natural key
  std::string schema, run_id, kind;
  json model, environment;  // null when the record has none
  SqlValue kernels, threads, test, n_prompt, n_gen, step, layer, finished_at, metric, value, stddev, passed;
  json body;  // the record without environment, model and samples
  std::vector<std::pair<std::string, std::vector<double>>> samples;
};

SqlValue str_or_null(const json& r, const char* key) {
  const auto it = r.find(key);
  return it != r.end() && it->is_string() ? SqlValue(it->get<std::string>()) : SqlValue(nullptr);
}
SqlValue int_or_null(const json& r, const char* key) {
  const auto it = r.find(key);
  return it != r.end() && it->is_number_integer() ? SqlValue(it->get<int64_t>()) : SqlValue(nullptr);
}
SqlValue number_at(const json& r, const char* pointer) {
  const json v = value_at(r, pointer);
  return v.is_number() ? SqlValue(v.get<double>()) : SqlValue(nullptr);
}

// Throws "FILE:LINE: message" for a record the history cannot use.
[[noreturn]] void bad_line(const std::string& path, int line, const std::string& message) {
  throw Error(fmt::format("{}:{}: {}", path, line, message));
}

void require(const json& r, const char* pointer, json::value_t type, const std::string& path, int line) {
  const json v = value_at(r, pointer);
  const bool ok = type == json::value_t::number_float ? v.is_number() : v.type() == type;
  if (!ok)
    bad_line(path, line,
             fmt::format("{} record lacks {} of the right type", r["schema"].get<std::string>(), pointer));
}

// The kind-specific columns: what a trend or a gate reads without opening the body.
void fill_columns(Row& row, const json& r, const std::string& path) {
  using T = json::value_t;
  row.kernels = str_or_null(r, "kernels");
  row.threads = int_or_null(r, "threads");
  row.test = str_or_null(r, "test");
  row.n_prompt = int_or_null(r, "n_prompt");
  row.n_gen = int_or_null(r, "n_gen");
  row.step = int_or_null(r, "step");
  row.finished_at = str_or_null(r, "time");
  const auto need = [&](const char* pointer, T type) { require(r, pointer, type, path, row.line); };
  const auto metric = [&](const char* name, const char* pointer) {
    row.metric = std::string(name);
    row.value = number_at(r, pointer);
  };
  if (row.schema == "llamascope.bench/1") {
    for (const char* p : {"/run_id", "/test", "/kernels", "/model/name", "/model/sha256"}) need(p, T::string);
    need("/threads", T::number_unsigned);
    need("/tokens_per_second/median", T::number_float);
    need("/environment", T::object);
    metric("tokens_per_second", "/tokens_per_second/median");
    row.stddev = number_at(r, "/tokens_per_second/stddev");
  } else if (row.schema == "llamascope.profile/1") {
    need("/run_id", T::string);
    need("/decode_tokens_per_second", T::number_float);
    row.test = std::string("profile");
    metric("decode_tokens_per_second", "/decode_tokens_per_second");
  } else if (row.schema == "llamascope.step/1" || row.schema.starts_with("llamascope.layer/")) {
    need("/run_id", T::string);
    need("/ns", T::number_unsigned);
    row.test = row.schema == "llamascope.step/1" ? str_or_null(r, "phase") : str_or_null(r, "op");
    row.layer = int_or_null(r, "layer");
    metric("ns", "/ns");
  } else if (row.schema == "llamascope.golden/1") {
    need("/passed", T::boolean);
    need("/prefill/nmse", T::number_float);
    row.test = std::string("golden");
    metric("prefill_nmse", "/prefill/nmse");
    row.passed = int64_t{r["passed"].get<bool>() ? 1 : 0};
  }
}

// run_id stays empty for a record without one (the caller names the file's run).
Row split_record(json r, const std::string& path, int line) {
  Row row;
  row.line = line;
  if (!r.is_object() || !r.contains("schema") || !r["schema"].is_string() ||
      !r["schema"].get<std::string>().starts_with("llamascope."))
    bad_line(path, line, "not a llamascope result record (no \"schema\": \"llamascope.*\")");
  const std::string canonical = r.dump();  // nlohmann sorts object keys: one text per record
  row.hash = sha256_hex(canonical.data(), canonical.size());
  row.schema = r["schema"].get<std::string>();
  row.kind = row.schema.substr(11, row.schema.find('/') - 11);
  fill_columns(row, r, path);
  if (r.contains("run_id") && r["run_id"].is_string()) row.run_id = r["run_id"].get<std::string>();
  if (r.contains("model")) row.model = r["model"], r.erase("model");
  if (r.contains("environment") && r["environment"].is_object())
    row.environment = r["environment"], r.erase("environment");
  for (const char* stat : kSampledStats) {
    auto it = r.find(stat);
    if (it == r.end() || !it->is_object() || !it->contains("samples") || !(*it)["samples"].is_array())
      continue;
    std::vector<double> values;
    for (const json& v : (*it)["samples"]) {
      if (!v.is_number()) bad_line(path, line, fmt::format("{}.samples holds a non-number", stat));
      values.push_back(v.get<double>());
    }
    if (values.empty()) continue;  // an empty array stays in the body
    it->erase("samples");
    row.samples.emplace_back(stat, std::move(values));
  }
  row.body = std::move(r);
  return row;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw Error("history add: cannot read " + path);
  std::string text(static_cast<size_t>(in.tellg()), '\0');
  in.seekg(0);
  if (!in.read(text.data(), static_cast<std::streamsize>(text.size())))
    throw Error("history add: cannot read " + path);
  return text;
}

// ---- writing ----
int64_t first_id(const std::vector<SqlRow>& rows) {
  return std::stoll(*rows.at(0).at(0));
}

// The id of the row whose unique `key` column equals key, inserting it first when absent. Under
// concurrent writers the INSERT waits for, then skips, a row another transaction is adding.
int64_t get_or_insert(HistoryStore& store, const std::string& table, const std::string& key,
                      const std::string& columns, const std::vector<SqlValue>& values) {
  std::string placeholders;
  for (size_t i = 1; i <= values.size(); ++i) placeholders += fmt::format("{}${}", i > 1 ? ", " : "", i);
  const auto inserted =
      store.query(fmt::format("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) DO NOTHING RETURNING id",
                              table, columns, placeholders, key),
                  values);
  if (!inserted.empty()) return first_id(inserted);
  return first_id(store.query(fmt::format("SELECT id FROM {} WHERE {} = $1", table, key), {values.at(0)}));
}

std::string joined(const json& array, const char* field = nullptr) {
  std::string out;
  if (!array.is_array()) return out;
  for (const json& v : array) {
    const json& item = field ? (v.is_object() && v.contains(field) ? v[field] : json()) : v;
    if (item.is_string()) out += (out.empty() ? "" : ",") + item.get<std::string>();
  }
  return out;
}

int64_t environment_id(HistoryStore& store, const json& env) {
  const std::string body = env.dump();
  const json dirty = value_at(env, "/build/git/dirty");
  const json gpu = value_at(env, "/gpu/devices");
  const json os = value_at(env, "/os/release");
  return get_or_insert(
      store, "environments", "env_hash",
      "env_hash, hostname, cpu_model, cpu_isa, logical_cpus, memory_bytes, gpu, os, compiler, build_type, "
      "version, git_revision, git_dirty, body",
      {sha256_hex(body.data(), body.size()), str_or_null(env, "hostname"),
       value_at(env, "/cpu/model").is_string() ? SqlValue(env["cpu"]["model"].get<std::string>()) : nullptr,
       joined(value_at(env, "/cpu/isa")), int_or_null(env.value("cpu", json::object()), "logical_cpus"),
       int_or_null(env, "memory_bytes"), gpu.is_array() ? SqlValue(joined(gpu, "name")) : nullptr,
       os.is_string() ? SqlValue(os.get<std::string>()) : nullptr,
       str_or_null(env.value("build", json::object()), "compiler"),
       str_or_null(env.value("build", json::object()), "build_type"),
       str_or_null(env.value("build", json::object()), "version"),
       value_at(env, "/build/git/revision").is_string()
           ? SqlValue(env["build"]["git"]["revision"].get<std::string>())
           : nullptr,
       dirty.is_boolean() ? SqlValue(int64_t{dirty.get<bool>()}) : nullptr, body});
}

int64_t model_id(HistoryStore& store, const json& model) {
  const std::string body = model.dump();
  const bool object = model.is_object();
  // A golden record names its model by path only.
  const std::string name =
      object ? (model.contains("name") && model["name"].is_string() ? model["name"].get<std::string>()
                                                                    : std::string("?"))
      : model.is_string() ? model.get<std::string>().substr(model.get<std::string>().find_last_of('/') + 1)
                          : body;
  return get_or_insert(
      store, "models", "identity_hash",
      "identity_hash, sha256, name, format, weight_types, parameter_count, file_bytes, body",
      {sha256_hex(body.data(), body.size()), object ? str_or_null(model, "sha256") : nullptr, name,
       object ? str_or_null(model, "format") : nullptr, object ? str_or_null(model, "weight_types") : nullptr,
       object ? int_or_null(model, "parameter_count") : nullptr,
       object ? int_or_null(model, "file_bytes") : nullptr, body});
}

void insert_samples(HistoryStore& store, int64_t result_id, const Row& row) {
  for (const auto& [metric, values] : row.samples) {
    if (values.empty()) continue;
    std::string sql = "INSERT INTO samples (result_id, metric, idx, value) VALUES ";
    std::vector<SqlValue> params;
    for (size_t i = 0; i < values.size(); ++i) {
      const size_t p = params.size();
      sql += fmt::format("{}(${}, ${}, ${}, ${})", i ? ", " : "", p + 1, p + 2, p + 3, p + 4);
      params.insert(params.end(), {result_id, metric, static_cast<int64_t>(i), values[i]});
    }
    store.query(sql, params);
  }
}

// Writes one file's rows as they are read: the file is never held as parsed records, only the ids of the
// environments, models and runs it has met (consecutive records usually share them).
class Writer {
 public:
  Writer(HistoryStore& store, const std::string& path)
      : store_(store), path_(path), now_(utc_now_iso8601()) {}

  void write(const Row& row) {
    ++counts.records;
    const SqlValue env = environment_of(row.environment);
    auto run = run_ids_.find(row.run_id);
    if (run == run_ids_.end())  // a run's first record carries its kind, start and environment
      run =
          run_ids_
              .emplace(row.run_id, get_or_insert(store_, "runs", "run_id",
                                                 "run_id, kind, started, environment_id, source, imported_at",
                                                 {row.run_id, row.kind, row.finished_at, env, path_, now_}))
              .first;
    const SqlValue model = row.model.is_null() ? SqlValue(nullptr) : model_of(row.model);
    const auto inserted = store_.query(
        "INSERT INTO results (record_hash, run_id, environment_id, record_schema, model_id, kernels, "
        "threads, "
        "test, n_prompt, n_gen, step, layer, finished_at, metric, value, value_stddev, passed, line, body) "
        "VALUES "
        "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) "
        "ON CONFLICT (record_hash) DO NOTHING RETURNING id",
        {row.hash, run->second, env, row.schema, model, row.kernels, row.threads, row.test, row.n_prompt,
         row.n_gen, row.step, row.layer, row.finished_at, row.metric, row.value, row.stddev, row.passed,
         int64_t{row.line}, row.body.dump()});
    if (inserted.empty()) return;  // stored before
    ++counts.added;
    insert_samples(store_, first_id(inserted), row);
  }

  ImportCounts counts;

 private:
  SqlValue environment_of(const json& env) {
    if (!env.is_object()) return nullptr;
    if (env != last_env_) {
      last_env_ = env;
      last_env_id_ = environment_id(store_, env);
    }
    return last_env_id_;
  }
  SqlValue model_of(const json& model) {
    if (model != last_model_) {
      last_model_ = model;
      last_model_id_ = model_id(store_, model);
    }
    return last_model_id_;
  }

  HistoryStore& store_;
  std::string path_, now_;
  std::map<std::string, int64_t> run_ids_;
  json last_env_, last_model_;
  int64_t last_env_id_ = 0, last_model_id_ = 0;
};

// Every line of the file, in one transaction: a bad line throws before COMMIT, so the file adds nothing.
ImportCounts write_file(HistoryStore& store, const std::string& path, const std::string& text) {
  std::string file_run_id;
  Writer writer(store, path);
  size_t start = 0;
  for (int n = 1; start < text.size(); ++n) {
    const size_t end = std::min(text.find('\n', start), text.size());
    const std::string_view line(text.data() + start, end - start);
    start = end + 1;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    json record;
    try {
      record = json::parse(line);
    } catch (const json::parse_error& e) {
      bad_line(path, n, fmt::format("not valid JSON (byte {})", e.byte));
    } catch (const json::out_of_range&) {  // a number beyond double's range, as 1e999
      bad_line(path, n, "not valid JSON (a number out of range)");
    }
    Row row = split_record(std::move(record), path, n);
    if (row.run_id.empty()) {  // records without a run_id (golden): a run named after the file's content
      if (file_run_id.empty()) file_run_id = "file-" + sha256_hex(text.data(), text.size()).substr(0, 24);
      row.run_id = file_run_id;
    }
    writer.write(row);
  }
  return writer.counts;
}

}  // namespace

ImportCounts import_history_file(HistoryStore& store, const std::string& path) {
  const std::string text = read_text(path);
  std::minstd_rand jitter(static_cast<unsigned>(getpid()));
  for (int attempt = 0;; ++attempt) {
    try {
      store.begin();
      const ImportCounts counts = write_file(store, path, text);
      store.commit();
      return counts;
    } catch (const RetryableDbError&) {
      store.rollback();
      if (attempt >= 50) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(5 + jitter() % (10 * (attempt + 1))));
    } catch (...) {
      store.rollback();
      throw;
    }
  }
}

}  // namespace llamascope
