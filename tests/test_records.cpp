// Result records against their documented schemas (docs/results.md): the CLI's bench (jsonl, csv, md) and
// profile (jsonl, Chrome trace) outputs on the bundled model, every record checked field by field against the
// tables of docs/results.md (read at run time), plus the record helpers (statistics, SHA-256, CSV quoting) on
// known values.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "harness/records.h"
#include "tests/support/records_schema.h"

namespace llamascope {
namespace {

using nlohmann::json;

// ---- the documented schemas, read from docs/results.md ----
using testing_support::FieldSpec;
using testing_support::Schema;
using T = testing_support::JsonType;

const std::map<std::string, Schema>& schemas() {
  static const std::map<std::string, Schema> all =
      testing_support::RecordsSchemaDoc(std::string(LLAMASCOPE_SOURCE_DIR) + "/docs/results.md").schemas();
  return all;
}

bool has_type(const json& v, T t) {
  switch (t) {
    case T::any:
      return true;
    case T::string:
      return v.is_string();
    case T::integer:
      return v.is_number_integer();
    case T::number:
      return v.is_number();
    case T::boolean:
      return v.is_boolean();
    case T::object:
      return v.is_object();
    case T::array:
      return v.is_array();
  }
  return false;
}

// Every problem of `record` against its schema: missing or mistyped fields, and top-level fields the docs
// do not list.
std::vector<std::string> validate(const json& record) {
  std::vector<std::string> problems;
  if (!record.is_object() || !record.contains("schema") || !record["schema"].is_string())
    return {"no schema field"};
  const auto it = schemas().find(record["schema"].get<std::string>());
  if (it == schemas().end()) return {"undocumented schema " + record["schema"].dump()};
  std::set<std::string> top_level;
  for (const FieldSpec& f : it->second) {
    top_level.insert(f.pointer.substr(1, f.pointer.find('/', 1) - 1));
    const json::json_pointer p(f.pointer);
    // A field under a null parent (a nullable object) is absent by design.
    const json::json_pointer parent = p.parent_pointer();
    if (!parent.empty() && record.contains(parent) && record.at(parent).is_null()) continue;
    if (!record.contains(p)) {
      if (f.required) problems.push_back("missing " + f.pointer);
      continue;
    }
    const json& v = record.at(p);
    if (v.is_null() ? !f.nullable : !has_type(v, f.type))
      problems.push_back("wrong type at " + f.pointer + ": " + v.dump());
  }
  for (const auto& [key, value] : record.items())
    if (!top_level.count(key)) problems.push_back("undocumented field /" + key);
  return problems;
}

void expect_valid(const json& record) {
  const std::vector<std::string> problems = validate(record);
  for (const std::string& p : problems) ADD_FAILURE() << record.value("schema", "?") << ": " << p;
}

// ---- running the CLI ----
struct CliResult {
  int status = -1;  // -1: the shell could not be started or the command did not exit normally
  std::string out;
};

// Runs `cmd` through the shell; its stdout and exit status.
CliResult shell(const std::string& cmd) {
  CliResult r;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(cmd.c_str(), "r"), pclose);
  if (!pipe) return r;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, pipe.get())) r.out.append(buf, n);
  const int raw = pclose(pipe.release());
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return r;
}

class RecordsCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("llamascope-records-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Runs the CLI with a private cache folder; stderr goes to a file (stderr()).
  CliResult run(const std::string& args) {
    const std::string cmd = "XDG_CACHE_HOME='" + dir_.string() + "/cache' '" + LLAMASCOPE_BINARY + "' " +
                            args + " 2>'" + (dir_ / "stderr.txt").string() + "'";
    return shell(cmd);
  }
  std::string stderr_text() const { return read(dir_ / "stderr.txt"); }
  static std::string read(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  static std::vector<std::string> lines_of(const std::string& text) {
    std::istringstream in(text);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }
  static std::vector<json> parse_jsonl(const std::string& text) {
    std::vector<json> records;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) records.push_back(json::parse(line));  // throws (fails the test) on invalid JSON
    return records;
  }
  static std::string model() { return std::string(LLAMASCOPE_GOLDEN_DIR) + "/models/stories260K-f32.gguf"; }
  std::string path(const char* name) const { return (dir_ / name).string(); }

  std::filesystem::path dir_;
};

// The small bench every bench test runs: three tests, two repetitions, bandwidth given (no measurement).
const char* kBenchArgs = " -k scalar -t 1 -p 16 -n 8 --pg 8,4 -r 2 --warmup 1 --bandwidth 20 --no-progress";

TEST_F(RecordsCli, BenchJsonlRecordsMatchTheSchema) {
  const CliResult r =
      run("bench -m '" + model() + "'" + kBenchArgs + " -o jsonl --out '" + path("bench.jsonl") + "'");
  ASSERT_EQ(r.status, 0) << stderr_text();
  const std::vector<json> records = parse_jsonl(read(path("bench.jsonl")));
  ASSERT_EQ(records.size(), 3u);
  std::set<std::string> tests;
  for (const json& rec : records) {
    expect_valid(rec);
    tests.insert(rec["test"].get<std::string>());
    EXPECT_EQ(rec["run_id"], records[0]["run_id"]);
    EXPECT_EQ(rec["model"]["sha256"].get<std::string>().size(), 64u);
    EXPECT_EQ(rec["model"]["sha256"], records[0]["model"]["sha256"]);
    const json& tps = rec["tokens_per_second"];
    ASSERT_EQ(tps["samples"].size(), 2u);
    EXPECT_GT(tps["min"].get<double>(), 0);
    EXPECT_LE(tps["min"].get<double>(), tps["median"].get<double>());
    EXPECT_LE(tps["median"].get<double>(), tps["max"].get<double>());
    EXPECT_EQ(rec["kernels"], "scalar");
    EXPECT_EQ(rec["threads"], 1);
    const bool generates = rec["n_gen"].get<int>() > 0;
    EXPECT_EQ(rec["time_to_first_token_ns"].is_null(), !generates);
    EXPECT_EQ(rec["time_per_output_token_ns"].is_null(), !generates);
    EXPECT_GT(rec["memory"]["peak_rss_bytes"].get<uint64_t>(), 0u);
    EXPECT_DOUBLE_EQ(rec["bandwidth"]["machine_gbps"].get<double>(), 20.0);
  }
  EXPECT_EQ(tests, (std::set<std::string>{"pp16", "tg8", "pp8+tg4"}));
  // With --out, stdout shows the Markdown table: a header, a rule, and a row per record.
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 5) << r.out;
}

TEST_F(RecordsCli, AbRecordsOfBenchAndProfileMatchTheSchema) {
  const CliResult bench =
      run("bench -m '" + model() + "' --ab scalar --vs scalar,attention=testref -t 1 -p 8 " +
          "-n 4 -r 2 --bandwidth 20 --no-progress -o jsonl --out '" + path("ab.jsonl") + "'");
  ASSERT_EQ(bench.status, 0) << stderr_text();
  const std::vector<json> records = parse_jsonl(read(path("ab.jsonl")));
  ASSERT_EQ(records.size(), 4u);
  for (const json& rec : records) {
    expect_valid(rec);
    EXPECT_TRUE(rec.contains("/speedup/ci_level"_json_pointer));
    EXPECT_EQ(rec["ab"]["b"], "scalar,attention=testref");
  }
  const CliResult profile =
      run("profile -m '" + model() + "' --ab scalar --vs scalar -t 1 -p 8 -n 2 --jsonl '" +
          path("pab.jsonl") + "'");
  ASSERT_EQ(profile.status, 0) << stderr_text();
  const std::vector<json> ops = parse_jsonl(read(path("pab.jsonl")));
  ASSERT_GT(ops.size(), 10u);
  for (const json& rec : ops) expect_valid(rec);
  EXPECT_EQ(ops.front()["schema"], "llamascope.profile_ab/1");
}

TEST_F(RecordsCli, BenchReproLineReproducesItsRow) {
  const CliResult r =
      run("bench -m '" + model() + "' -k scalar -t 1 -p 0 -n 4 -r 1 --bandwidth 20 --no-progress -o jsonl");
  ASSERT_EQ(r.status, 0) << stderr_text();
  const std::vector<json> records = parse_jsonl(r.out);
  ASSERT_EQ(records.size(), 1u);
  std::string repro = records[0]["repro"].get<std::string>();
  ASSERT_NE(repro.find(" bench "), std::string::npos);
  // The repro names the binary as this process's cwd sees it; run it through the shell as printed.
  const std::string cmd =
      "XDG_CACHE_HOME='" + dir_.string() + "/cache' " + repro + " --bandwidth 20 --no-progress";
  const CliResult rerun = shell(cmd);
  ASSERT_EQ(rerun.status, 0);
  const std::vector<json> again = parse_jsonl(rerun.out);
  ASSERT_EQ(again.size(), 1u);
  expect_valid(again[0]);
  EXPECT_EQ(again[0]["test"], records[0]["test"]);
  EXPECT_EQ(again[0]["kernels"], records[0]["kernels"]);
  EXPECT_EQ(again[0]["model"]["sha256"], records[0]["model"]["sha256"]);
  EXPECT_NE(again[0]["run_id"], records[0]["run_id"]);
}

TEST_F(RecordsCli, BenchCsvHasOneRowPerTestAndTheSameColumnsInEveryRow) {
  const CliResult r = run("bench -m '" + model() + "'" + kBenchArgs + " -o csv");
  ASSERT_EQ(r.status, 0) << stderr_text();
  const std::vector<std::string> lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 4u) << r.out;
  EXPECT_NE(lines[0].find("tokens_per_second.median"), std::string::npos);
  EXPECT_NE(lines[0].find("model.sha256"), std::string::npos);
  // Fields split on commas outside quotes.
  auto fields = [](const std::string& line) {
    size_t count = 1;
    bool quoted = false;
    for (char c : line) {
      if (c == '"') quoted = !quoted;
      if (c == ',' && !quoted) ++count;
    }
    return count;
  };
  for (size_t i = 1; i < lines.size(); ++i) EXPECT_EQ(fields(lines[i]), fields(lines[0])) << lines[i];
}

TEST_F(RecordsCli, BenchMarkdownTablePrintsARowPerTest) {
  const CliResult r = run("bench -m '" + model() + "'" + kBenchArgs + " -o md");
  ASSERT_EQ(r.status, 0) << stderr_text();
  const std::vector<std::string> lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 5u) << r.out;
  EXPECT_NE(lines[0].find("| t/s |"), std::string::npos) << lines[0];
  for (const std::string& line : lines) EXPECT_EQ(line.front(), '|') << line;
  EXPECT_NE(r.out.find("| pp16 |"), std::string::npos);
  EXPECT_NE(r.out.find("| tg8 |"), std::string::npos);
  EXPECT_NE(r.out.find("±"), std::string::npos);
}

TEST_F(RecordsCli, BenchRejectsBadArgumentsWithOneLine) {
  EXPECT_NE(run("bench -m '" + model() + "' -o xml --no-progress").status, 0);
  EXPECT_NE(stderr_text().find("xml"), std::string::npos);
  EXPECT_NE(run("bench -m '" + model() + "' -p 0 -n 0 --no-progress").status, 0);
  EXPECT_NE(run("bench -m '" + model() + "' --pg 8 --no-progress").status, 0);
  EXPECT_NE(run("bench -m /nonexistent.gguf -p 4 -n 0 --bandwidth 20 --no-progress").status, 0);
}

// Chrome Trace Event format, strictly: the JSON object form, "X" events with the required fields and
// non-negative times, metadata events well formed, and slices on one track properly nested (a slice that
// starts inside another ends inside it).
void check_trace(const json& doc) {
  ASSERT_TRUE(doc.is_object());
  ASSERT_TRUE(doc.contains("traceEvents") && doc["traceEvents"].is_array());
  std::map<std::pair<int, int>, std::vector<std::pair<double, double>>> slices;  // (pid, tid) -> [start, end)
  std::set<std::string> categories;
  for (const json& e : doc["traceEvents"]) {
    ASSERT_TRUE(e.is_object());
    ASSERT_TRUE(e.contains("ph") && e["ph"].is_string());
    ASSERT_TRUE(e.contains("pid") && e["pid"].is_number_integer());
    ASSERT_TRUE(e.contains("tid") && e["tid"].is_number_integer());
    ASSERT_TRUE(e.contains("name") && e["name"].is_string());
    const std::string ph = e["ph"];
    if (ph == "M") {
      ASSERT_TRUE(e["args"].is_object() && e["args"]["name"].is_string()) << e.dump();
      continue;
    }
    ASSERT_EQ(ph, "X") << e.dump();
    ASSERT_TRUE(e["ts"].is_number() && e["dur"].is_number()) << e.dump();
    ASSERT_GE(e["ts"].get<double>(), 0);
    ASSERT_GE(e["dur"].get<double>(), 0);
    if (e.contains("args")) {
      ASSERT_TRUE(e["args"].is_object());
    }
    categories.insert(e.value("cat", ""));
    const double ts = e["ts"].get<double>();
    slices[{e["pid"].get<int>(), e["tid"].get<int>()}].push_back({ts, ts + e["dur"].get<double>()});
  }
  EXPECT_EQ(categories, (std::set<std::string>{"step", "layer", "op"}));
  const double eps = 1e-3;  // microseconds: the ns integers printed as decimals
  for (auto& [track, list] : slices) {
    // Longer slices first among equal starts, so parents come before children.
    std::sort(list.begin(), list.end(),
              [](auto& a, auto& b) { return a.first != b.first ? a.first < b.first : a.second > b.second; });
    std::vector<double> open_ends;
    for (const auto& [start, end] : list) {
      while (!open_ends.empty() && start >= open_ends.back() - eps) open_ends.pop_back();
      if (!open_ends.empty()) {
        ASSERT_LE(end, open_ends.back() + eps)
            << "slice [" << start << ", " << end << ") overlaps its parent";
      }
      open_ends.push_back(end);
    }
  }
}

TEST_F(RecordsCli, ProfileRecordsCoverEveryLayerAndOpAndTheTraceNests) {
  const CliResult r =
      run("profile -m '" + model() + "' -k scalar -t 1 -p 8 -n 4 --bandwidth 20 --peak-gflops 100 --jsonl '" +
          path("profile.jsonl") + "' --trace '" + path("trace.json") + "'");
  ASSERT_EQ(r.status, 0) << stderr_text();
  const std::vector<json> records = parse_jsonl(read(path("profile.jsonl")));
  ASSERT_FALSE(records.empty());
  for (const json& rec : records) expect_valid(rec);
  ASSERT_EQ(records[0]["schema"], "llamascope.profile/1");
  const int n_layers = records[0]["model"]["config"]["n_layers"];
  const json& config = records[0]["model"]["config"];
  const int64_t q_dim = config["n_heads"].get<int64_t>() * config["head_dim"].get<int64_t>();
  const int64_t kv_dim = config["n_kv_heads"].get<int64_t>() * config["head_dim"].get<int64_t>();
  const std::set<std::string> documented = {"embed",    "attn_norm", "attn_qkv",    "rope",        "attn",
                                            "attn_out", "attn_add",  "ffn_norm",    "ffn_gate_up", "swiglu",
                                            "ffn_down", "ffn_add",   "output_norm", "output"};
  std::map<int, uint64_t> op_ns_per_step;
  std::map<int, std::set<std::pair<int, std::string>>> seen;  // step -> (layer, op)
  int steps = 0;
  for (const json& rec : records) {
    EXPECT_EQ(rec["run_id"], records[0]["run_id"]);
    if (rec["schema"] == "llamascope.step/1") {
      ++steps;
      EXPECT_EQ(rec["phase"], rec["step"] == 0 ? "prefill" : "decode");
      EXPECT_EQ(rec["tokens"], rec["step"] == 0 ? 8 : 1);
      EXPECT_LE(rec["op_ns"].get<uint64_t>(), rec["ns"].get<uint64_t>());
    }
    if (rec["schema"] == "llamascope.layer/2") {
      const std::string op = rec["op"];
      EXPECT_TRUE(documented.count(op)) << op;
      seen[rec["step"].get<int>()].insert({rec["layer"].get<int>(), op});
      op_ns_per_step[rec["step"].get<int>()] += rec["ns"].get<uint64_t>();
      if (op.rfind("attn_", 0) == 0 && rec["layer"].get<int>() >= 0 && op != "attn_add") {
        EXPECT_EQ(rec["weight_shape"].size(), 2u) << rec.dump();
      }
      // Grouped matmuls: the weights stacked, named in order.
      if (op == "attn_qkv") {
        const std::string l = std::to_string(rec["layer"].get<int>());
        EXPECT_EQ(rec["weight_name"],
                  "blk." + l + ".attn_q.weight,blk." + l + ".attn_k.weight,blk." + l + ".attn_v.weight");
        EXPECT_EQ(rec["weight_shape"][0].get<int64_t>(), q_dim + 2 * kv_dim) << rec.dump();
      }
      if (op == "ffn_gate_up") {
        EXPECT_EQ(rec["weight_shape"][0].get<int64_t>(), 2 * config["hidden_dim"].get<int64_t>())
            << rec.dump();
      }
      EXPECT_GE(rec["bytes"].get<double>(), 0);
    }
  }
  EXPECT_EQ(steps, 5);
  ASSERT_EQ(seen.size(), 5u);
  for (const auto& [step, ops] : seen) {
    // Every op of every layer, plus the three outside the layers.
    EXPECT_EQ(ops.size(), static_cast<size_t>(n_layers) * 11 + 3) << "step " << step;
    for (int l = 0; l < n_layers; ++l)
      for (const char* op : {"attn_qkv", "attn", "ffn_gate_up", "ffn_down", "ffn_add"})
        EXPECT_TRUE(ops.count({l, op})) << step << " " << l << " " << op;
  }
  for (const json& rec : records)
    if (rec["schema"] == "llamascope.step/1") {
      EXPECT_EQ(rec["op_ns"].get<uint64_t>(), op_ns_per_step[rec["step"].get<int>()]);
    }

  check_trace(json::parse(read(path("trace.json"))));
  EXPECT_NE(r.out.find("furthest from its roofs"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("cover"), std::string::npos);
}

// ---- the helpers, on known values ----
TEST(Records, SummarizeUsesTheSampleStandardDeviationAndTheMiddleMedian) {
  const SampleStats s = summarize({4, 1, 3, 2});
  EXPECT_DOUBLE_EQ(s.median, 2.5);
  EXPECT_DOUBLE_EQ(s.mean, 2.5);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.max, 4);
  EXPECT_NEAR(s.stddev, 1.2909944487358056, 1e-12);         // sqrt(5/3)
  EXPECT_EQ(s.samples, (std::vector<double>{4, 1, 3, 2}));  // in measured order
  EXPECT_DOUBLE_EQ(summarize({7}).stddev, 0);
}

TEST(Records, Sha256MatchesTheFipsExamples) {
  EXPECT_EQ(sha256_hex("abc", 3), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("", 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const std::string two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  EXPECT_EQ(sha256_hex(two_blocks.data(), two_blocks.size()),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  const std::string million(1000000, 'a');
  EXPECT_EQ(sha256_hex(million.data(), million.size()),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

// The file digest against coreutils' sha256sum, computed once and then answered from the cache.
TEST(Records, FileSha256MatchesSha256sumAndIsCached) {
  const std::string model = std::string(LLAMASCOPE_GOLDEN_DIR) + "/models/stories260K.bin";
  const CliResult sha256sum = shell("sha256sum '" + model + "'");
  ASSERT_EQ(sha256sum.status, 0);
  const std::string expected = sha256sum.out.substr(0, sha256sum.out.find(' '));
  ASSERT_EQ(expected.size(), 64u) << "sha256sum unavailable?";

  const std::filesystem::path cache =
      std::filesystem::temp_directory_path() / ("llamascope-sha-" + std::to_string(::getpid()));
  const char* saved = std::getenv("XDG_CACHE_HOME");
  const std::string saved_value = saved ? saved : "";
  setenv("XDG_CACHE_HOME", cache.c_str(), 1);
  const std::string first = file_sha256(model);
  std::ifstream cached(cache / "llamascope" / "sha256.json");
  const json entries = json::parse(cached, nullptr, false);
  const std::string second = file_sha256(model);
  saved ? setenv("XDG_CACHE_HOME", saved_value.c_str(), 1) : unsetenv("XDG_CACHE_HOME");
  std::filesystem::remove_all(cache);

  EXPECT_EQ(first, expected);
  EXPECT_EQ(second, expected);
  ASSERT_TRUE(entries.is_object());
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries.begin().value(), expected);
  EXPECT_NE(entries.begin().key().find("stories260K.bin|"), std::string::npos);
}

TEST(Records, CsvQuotesOnlyWhatNeedsQuotingAndMarkdownFollowsTheColumns) {
  const Column columns[] = {{"a", "A"}, {"b.c", "", MdStyle::text}, {"d", "D", MdStyle::percent}};
  const json rec = {{"a", "x,\"y\""}, {"b", {{"c", 1.5}}}, {"d", 0.25}};
  const std::string csv = format_records(std::span<const json>(&rec, 1), columns, OutputFormat::csv);
  EXPECT_EQ(csv, "a,b.c,d\n\"x,\"\"y\"\"\",1.5,0.25\n");
  const std::string md = format_records(std::span<const json>(&rec, 1), columns, OutputFormat::md);
  EXPECT_EQ(md, "| A | D |\n| --- | ---: |\n| x,\"y\" | 25.0 % |\n");
  EXPECT_TRUE(value_at(rec, "/missing/field").is_null());
  EXPECT_EQ(shell_quote("plain-word_1.gguf"), "plain-word_1.gguf");
  EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
}

// A statistics column: mean ± stddev in Markdown, a CSV cell for each field of SampleStats::to_json; a
// Markdown-only column adds nothing to the CSV.
TEST(Records, AStatisticsColumnExpandsIntoItsFieldsInTheCsv) {
  const json rec = {{"t", summarize({1, 3}).to_json()}};
  ASSERT_EQ(rec["t"].size(), std::size(SampleStats::kFields));
  const Column stats[] = {{"t", "T", MdStyle::mean_stddev, CsvCells::stats}};
  EXPECT_EQ(
      format_records(std::span<const json>(&rec, 1), stats, OutputFormat::csv),
      "t.median,t.mean,t.stddev,t.min,t.max,t.samples\n2.0,2.0,1.4142135623730951,1.0,3.0,\"[1.0,3.0]\"\n");
  EXPECT_EQ(format_md_row(rec, stats), "| 2.00 ± 1.41 |\n");
  const Column md_only[] = {{"t", "T", MdStyle::mean_stddev, CsvCells::none}, {"t.max", "max"}};
  EXPECT_EQ(format_records(std::span<const json>(&rec, 1), md_only, OutputFormat::csv), "t.max\n3.0\n");
}

// The schemas come from the docs' tables: nested tables (statistics, model identity, environment) land
// below the field that links to them, with their types and nullability.
TEST(Records, TheDocsTablesGiveEveryRecordTypeItsFields) {
  for (const char* name :
       {"llamascope.bench/1", "llamascope.profile/1", "llamascope.step/1", "llamascope.layer/2"})
    ASSERT_TRUE(schemas().count(name)) << name << " has no field table in docs/results.md";
  auto find = [](const std::string& schema, const std::string& pointer) -> const FieldSpec* {
    for (const FieldSpec& f : schemas().at(schema))
      if (f.pointer == pointer) return &f;
    return nullptr;
  };
  struct Expect {
    const char* schema;
    const char* pointer;
    T type;
    bool nullable;
  };
  const Expect expected[] = {
      {"llamascope.bench/1", "/model/sha256", T::string, false},
      {"llamascope.bench/1", "/model/config/tied_embeddings", T::boolean, false},
      {"llamascope.bench/1", "/tokens_per_second/median", T::number, false},
      {"llamascope.bench/1", "/time_to_first_token_ns", T::object, true},
      {"llamascope.bench/1", "/time_to_first_token_ns/samples", T::array, false},
      {"llamascope.bench/1", "/memory/peak_rss_bytes", T::integer, false},
      {"llamascope.bench/1", "/environment/build/git/dirty", T::boolean, true},
      {"llamascope.bench/1", "/environment/libraries/onednn", T::string, true},
      {"llamascope.profile/1", "/decode_coverage/stddev", T::number, false},
      {"llamascope.profile/1", "/threads", T::integer, false},
      {"llamascope.layer/2", "/weight_shape", T::array, true},
      {"llamascope.layer/2", "/step", T::integer, false},
  };
  for (const Expect& e : expected) {
    const FieldSpec* f = find(e.schema, e.pointer);
    ASSERT_NE(f, nullptr) << e.schema << " lacks " << e.pointer;
    EXPECT_EQ(f->type, e.type) << e.pointer;
    EXPECT_EQ(f->nullable, e.nullable) << e.pointer;
    EXPECT_TRUE(f->required) << e.pointer;
  }
  EXPECT_EQ(find("llamascope.step/1", "/model"), nullptr);
}

TEST(Records, TheValidatorCatchesMissingMistypedAndUndocumentedFields) {
  json step = {{"schema", "llamascope.step/1"},
               {"run_id", "r"},
               {"phase", "decode"},
               {"step", 1},
               {"pos0", 8},
               {"tokens", 1},
               {"ns", 100},
               {"op_ns", 90},
               {"coverage", 0.9},
               {"start_ns", 5}};
  EXPECT_TRUE(validate(step).empty());
  json missing = step;
  missing.erase("ns");
  EXPECT_EQ(validate(missing).size(), 1u);
  json mistyped = step;
  mistyped["step"] = "1";
  EXPECT_EQ(validate(mistyped).size(), 1u);
  json extra = step;
  extra["surprise"] = 1;
  EXPECT_EQ(validate(extra).size(), 1u);
}

}  // namespace
}  // namespace llamascope
