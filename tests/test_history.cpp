// The results history against real databases: every test runs on SQLite and on a throw-away PostgreSQL
// server (tests/support/pg_server.sh; skipped only when PostgreSQL is not installed). Records are real
// `llamascope bench`/`profile` output, varied where a test needs several runs or commits.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "harness/history.h"

namespace llamascope {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<json> read_jsonl(const fs::path& p) {
  std::vector<json> out;
  std::istringstream in(read_text(p));
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(json::parse(line));
  return out;
}

void write_jsonl(const fs::path& p, const std::vector<json>& records) {
  std::ofstream out(p);
  for (const json& r : records) out << r.dump() << "\n";
}

// Exit status of a shell command.
int sh(const std::string& command) {
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

const std::string kBin = LLAMASCOPE_BINARY;
const std::string kModel = std::string(LLAMASCOPE_GOLDEN_DIR) + "/models/stories260K-f32.gguf";
const std::string kPgServer = std::string(LLAMASCOPE_SOURCE_DIR) + "/tests/support/pg_server.sh";

class History : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/llamascope-history-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    chmod(dir_.c_str(), 0755);  // the PostgreSQL server runs as nobody when the tests run as root
    if (GetParam() == "sqlite") {
      url_ = (dir_ / "history.sqlite").string();
      return;
    }
    if (!history_postgres_available())
      GTEST_SKIP() << "this build has no PostgreSQL backend (libpq not found)";
    const int rc =
        sh(kPgServer + " start '" + (dir_ / "pg").string() + "' > '" + (dir_ / "url").string() + "'");
    if (rc == 77) GTEST_SKIP() << "PostgreSQL is not installed";
    ASSERT_EQ(rc, 0) << "could not start a PostgreSQL server";
    url_ = read_text(dir_ / "url");
    while (!url_.empty() && url_.back() == '\n') url_.pop_back();
    pg_started_ = true;
  }
  void TearDown() override {
    if (pg_started_) sh(kPgServer + " stop '" + (dir_ / "pg").string() + "'");
    fs::remove_all(dir_);
  }

  fs::path path(const std::string& name) const { return dir_ / name; }
  std::string db() const { return " --db '" + url_ + "'"; }

  // A real bench run: 2 tests x 1 thread count, scalar kernels.
  std::vector<json> bench_records() {
    const fs::path out = path("bench-template.jsonl");
    if (!fs::exists(out))
      EXPECT_EQ(sh("XDG_CACHE_HOME='" + dir_.string() + "/cache' " + kBin + " bench -m '" + kModel +
                   "' -k scalar -t 1 -p 8 -n 4 -r 2 --bandwidth 20 --no-progress -o jsonl --out '" +
                   out.string() + "' > /dev/null 2>&1"),
                0);
    return read_jsonl(out);
  }
  // The template as run `run` at commit `rev`, tokens/s scaled by `scale`, measured at `time`.
  std::vector<json> variant(int run, const std::string& rev, double scale, const std::string& time) {
    std::vector<json> records = bench_records();
    for (json& r : records) {
      r["run_id"] = fmt_run(run);
      r["time"] = time;
      r["environment"]["build"]["git"]["revision"] = rev;
      r["tokens_per_second"]["median"] = r["tokens_per_second"]["median"].get<double>() * scale;
    }
    return records;
  }
  static std::string fmt_run(int run) {
    char id[64];
    std::snprintf(id, sizeof id, "20261130T000000Z-%08x", run);
    return id;
  }

  fs::path dir_;
  std::string url_;
  bool pg_started_ = false;
};

TEST_P(History, ImportsOnceAndExportsTheSameRecords) {
  const std::vector<json> records = bench_records();
  ASSERT_EQ(records.size(), 2u);
  write_jsonl(path("a.jsonl"), records);
  auto store = open_history_store(url_);
  EXPECT_EQ(import_history_file(*store, path("a.jsonl").string()).added, 2);
  EXPECT_EQ(import_history_file(*store, path("a.jsonl").string()).added, 0);  // the same records again
  const std::vector<json> back = history_records(*store, {});
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0], records[0]);  // environment, model and samples put back, every number exact
  EXPECT_EQ(back[1], records[1]);
  EXPECT_EQ(store->query("SELECT COUNT(*) FROM samples")[0][0], "8");  // 2 stats x 2 repetitions x 2 records
  EXPECT_EQ(store->query("SELECT COUNT(*) FROM environments")[0][0], "1");
}

TEST_P(History, CorruptLineImportsNothingOfThatFile) {
  std::vector<json> records = variant(1, "aaaaaaaaaaaa", 1, "2026-11-30T01:00:00Z");
  write_jsonl(path("good.jsonl"), variant(2, "aaaaaaaaaaaa", 1, "2026-11-30T02:00:00Z"));
  std::ofstream bad(path("bad.jsonl"));
  bad << records[0].dump() << "\n" << records[1].dump() << "\n" << records[1].dump().substr(0, 100) << "\n";
  bad.close();
  const int rc =
      sh(kBin + " history add '" + path("bad.jsonl").string() + "' '" + path("good.jsonl").string() + "'" +
         db() + " > '" + path("out").string() + "' 2> '" + path("err").string() + "'");
  EXPECT_EQ(rc, 2);
  const std::string err = read_text(path("err"));
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_NE(err.find("llamascope: error: " + path("bad.jsonl").string() + ":3: "), std::string::npos) << err;
  auto store = open_history_store(url_);
  HistoryFilter f;
  f.run = fmt_run(1);
  EXPECT_TRUE(history_records(*store, f).empty());    // nothing of the bad file, not even its good lines
  EXPECT_EQ(history_records(*store, {}).size(), 2u);  // the good file went in
}

TEST_P(History, FourConcurrentImportersStoreEveryRecordOnce) {
  std::string files;
  for (int i = 0; i < 100; ++i) {
    const std::string name = "run" + std::to_string(i) + ".jsonl";
    write_jsonl(path(name), variant(i, "bbbbbbbbbbbb", 1 + i / 100.0, "2026-11-30T03:00:00Z"));
    files += " '" + path(name).string() + "'";
  }
  std::string script;  // the store does not exist yet: the four also race to create the schema
  for (int p = 0; p < 4; ++p)
    script +=
        kBin + " history add" + files + db() + " > '" + path("p" + std::to_string(p)).string() + "' 2>&1 & ";
  script += "\nfail=0; for j in $(jobs -p); do wait $j || fail=1; done; exit $fail\n";
  std::ofstream(path("race.sh")) << script;
  EXPECT_EQ(sh("bash '" + path("race.sh").string() + "'"), 0)
      << read_text(path("p0")) << read_text(path("p1"));
  int64_t added = 0;
  for (int p = 0; p < 4; ++p) {
    const std::string out = read_text(path("p" + std::to_string(p)));
    const size_t at = out.rfind(" records, ");
    ASSERT_NE(at, std::string::npos) << out;
    added += std::stoll(out.substr(at + 10));
  }
  EXPECT_EQ(added, 200);  // each record was new to exactly one importer
  auto store = open_history_store(url_);
  EXPECT_EQ(history_records(*store, {}).size(), 200u);
  EXPECT_EQ(history_runs(*store, {}).size(), 100u);
  EXPECT_EQ(store->query("SELECT COUNT(DISTINCT record_hash) FROM results")[0][0], "200");
}

TEST_P(History, TrendFollowsCommitsAndBaselineTakesTheNewestRun) {
  const char* revs[] = {"111111111111", "222222222222", "333333333333", "444444444444", "555555555555"};
  auto store = open_history_store(url_);
  for (int i = 0; i < 5; ++i) {
    const std::string name = "c" + std::to_string(i) + ".jsonl";
    write_jsonl(path(name),
                variant(i, revs[i], 1.0 + 0.1 * i, "2026-11-2" + std::to_string(i) + "T00:00:00Z"));
    import_history_file(*store, path(name).string());
  }
  // A second, newer run at the third commit, 2x faster: the baseline must pick it.
  write_jsonl(path("again.jsonl"), variant(9, revs[2], 2.4, "2026-11-29T00:00:00Z"));
  import_history_file(*store, path("again.jsonl").string());
  const double tg4 = bench_records()[1]["tokens_per_second"]["median"].get<double>();
  HistoryFilter f;
  f.model = "stories260K-f32.gguf";
  f.test = "tg4";
  const json t = history_trend(*store, f);
  ASSERT_EQ(t["series"].size(), 1u);
  const json& points = t["series"][0]["points"];
  ASSERT_EQ(points.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(points[i]["commit"], revs[i]);
  EXPECT_NEAR(points[0]["median"].get<double>(), tg4, 1e-9 * tg4);
  EXPECT_NEAR(points[2]["median"].get<double>(), tg4 * (1.2 + 2.4) / 2,
              1e-9 * tg4);  // two runs at this commit
  EXPECT_EQ(points[2]["records"], 2);
  const std::vector<json> base = history_baseline_records(*store, "3333");
  ASSERT_EQ(base.size(), 2u);
  for (const json& r : base) EXPECT_EQ(r["run_id"], fmt_run(9));
  EXPECT_THROW(history_baseline_records(*store, "999999999999"), Error);
  f.commit = "4444";
  EXPECT_EQ(history_records(*store, f).size(), 1u);  // tg4 at the fourth commit
  f = {};
  f.since = "2026-11-23";
  EXPECT_EQ(history_records(*store, f).size(), 6u);  // the 4th and 5th commits' runs and the late rerun
}

TEST_P(History, ProfileRecordsKeepTheirRunAndLayers) {
  ASSERT_EQ(sh("XDG_CACHE_HOME='" + dir_.string() + "/cache' " + kBin + " profile -m '" + kModel +
               "' -k scalar -t 1 -p 4 -n 2 --bandwidth 20 --peak-gflops 50 --jsonl '" +
               path("profile.jsonl").string() + "' > /dev/null 2>&1"),
            0);
  const std::vector<json> lines = read_jsonl(path("profile.jsonl"));
  auto store = open_history_store(url_);
  EXPECT_EQ(import_history_file(*store, path("profile.jsonl").string()).added,
            static_cast<int64_t>(lines.size()));
  const std::vector<json> runs = history_runs(*store, {});
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0]["kind"], "profile");
  EXPECT_EQ(history_records(*store, {}), lines);
  const json rev = lines[0]["environment"]["build"]["git"]["revision"];
  if (rev.is_string() && !rev.get<std::string>().empty())  // the gate's per-op baseline: the run, whole
    EXPECT_EQ(history_baseline_records(*store, rev.get<std::string>()), lines);
}

TEST_P(History, MistypedFieldsImportOrFailWithAnError) {
  // Lines that once ended `history add` or the gate baseline with a foreign exception or undefined
  // behaviour (tests/fuzz/regressions/history_records).
  auto store = open_history_store(url_);
  std::ofstream(path("overflow.jsonl")) << R"({"schema":"llamascope.golden/1","x":1e999})"
                                        << "\n";
  try {
    import_history_file(*store, path("overflow.jsonl").string());
    ADD_FAILURE() << "a number beyond double's range was imported";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("overflow.jsonl:1: not valid JSON"), std::string::npos) << e.what();
  }
  const json env = {{"build", {{"git", {{"revision", "abcdef012345"}}}}}};
  const std::vector<json> records = {{{"schema", "llamascope.golden/1"},
                                      {"passed", true},
                                      {"prefill", {{"nmse", 0.5}}},
                                      {"model", {{"name", 5}}}},
                                     {{"schema", "llamascope.profile/1"},
                                      {"run_id", "p1"},
                                      {"decode_tokens_per_second", 1.0},
                                      {"kernels", 5},
                                      {"threads", 1e300},
                                      {"environment", env}}};
  write_jsonl(path("mistyped.jsonl"), records);
  EXPECT_EQ(import_history_file(*store, path("mistyped.jsonl").string()).added, 2);
  EXPECT_EQ(store->query("SELECT name FROM models")[0][0], "?");  // a name that is not a string
  EXPECT_EQ(history_baseline_records(*store, "abcdef012345"), std::vector<json>{records[1]});
}

TEST_P(History, MigratesAnOlderSchemaForward) {
  {
    auto store = GetParam() == "sqlite" ? open_sqlite_store(url_) : open_postgres_store(url_);
    EXPECT_EQ(migrate_history_schema(*store, 1), 1);
    write_jsonl(path("a.jsonl"), bench_records());
    EXPECT_EQ(import_history_file(*store, path("a.jsonl").string()).added, 2);
  }
  auto store = open_history_store(url_);  // brings it to the newest version
  EXPECT_EQ(store->query("SELECT MAX(version) FROM schema_migrations")[0][0],
            std::to_string(latest_history_schema_version()));
  EXPECT_EQ(history_records(*store, {}).size(), 2u);
  store->query("INSERT INTO schema_migrations (version, description, applied_at) VALUES (99, 'future', 'x')");
  EXPECT_THROW(open_history_store(url_), Error);  // a newer schema is refused, not misread
}

// bench --shard i/4 for i = 0..3: together the unsharded matrix, each row once; every shard's records land in
// one store.
TEST_P(History, ShardsCoverTheMatrixOnceAndLandInOneStore) {
  const std::string matrix = " -m '" + kModel + "," + kModel + "' -k scalar,simd -t 1,2 -p 4 -n 2,3";
  ASSERT_EQ(sh(kBin + " bench" + matrix + " --list > '" + path("all").string() + "'"), 0);
  std::multiset<std::string> shards;
  for (int i = 0; i < 4; ++i)
    ASSERT_EQ(sh(kBin + " bench" + matrix + " --list --shard " + std::to_string(i) + "/4 >> '" +
                 path("shards").string() + "'"),
              0);
  std::set<std::string> all;
  std::istringstream a(read_text(path("all"))), s(read_text(path("shards")));
  for (std::string line; std::getline(a, line);) all.insert(line);
  for (std::string line; std::getline(s, line);) shards.insert(line);
  EXPECT_EQ(all.size(), 2u * 2 * 2 * 3);
  EXPECT_EQ(std::set<std::string>(shards.begin(), shards.end()), all);  // the union is the matrix
  EXPECT_EQ(shards.size(), all.size());                                 // and no row twice
  // The job-array variables stand in for the flag.
  EXPECT_EQ(sh("JOB_COMPLETION_INDEX=5 JOB_COMPLETIONS=4 " + kBin + " bench --list > /dev/null 2>&1"), 1);
  EXPECT_EQ(sh("SLURM_ARRAY_TASK_ID=2 SLURM_ARRAY_TASK_COUNT=4 " + kBin + " bench" + matrix + " --list > '" +
               path("slurm").string() + "'"),
            0);
  EXPECT_EQ(read_text(path("slurm")).substr(0, 2), "2\t");
  std::string files;
  for (int i = 0; i < 4; ++i) {
    const std::string out = path("shard" + std::to_string(i) + ".jsonl").string();
    ASSERT_EQ(sh("JOB_COMPLETION_INDEX=" + std::to_string(i) + " JOB_COMPLETIONS=4 XDG_CACHE_HOME='" +
                 dir_.string() + "/cache' " + kBin + " bench -m '" + kModel +
                 "' -k scalar -t 1,2 -p 4 -n 2,3 -r 1 --bandwidth 20 " + "--no-progress -o jsonl --out '" +
                 out + "' > /dev/null 2>&1"),
              0);
    files += " '" + out + "'";
  }
  ASSERT_EQ(sh(kBin + " history add" + files + db() + " > /dev/null"), 0);
  auto store = open_history_store(url_);
  std::multiset<int64_t> positions;
  for (const json& r : history_records(*store, {})) positions.insert(r["index"].get<int64_t>());
  EXPECT_EQ(positions, (std::multiset<int64_t>{0, 1, 2, 3, 4, 5}));  // 2 threads x 3 tests, each once
  EXPECT_EQ(history_runs(*store, {}).size(), 4u);
}

INSTANTIATE_TEST_SUITE_P(Backends, History, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

TEST(HistoryStore, PostgresUrlWithoutServerFailsWithOneLine) {
  if (!history_postgres_available()) GTEST_SKIP() << "built without libpq";
  try {
    open_history_store("postgresql:///x?host=/nonexistent-socket-dir&connect_timeout=2");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    EXPECT_NE(what.find("cannot connect to PostgreSQL"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace llamascope
