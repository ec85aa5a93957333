// `llamascope history`: the results store's command line (add, list, show, export, trend, baseline).
// The store logic is in history_import.cpp and history_query.cpp; this file parses flags and prints.
#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "harness/bench_columns.h"
#include "harness/commands.h"
#include "harness/common.h"
#include "harness/history.h"
#include "harness/records.h"

namespace llamascope {
namespace {

using json = nlohmann::json;

struct HistoryArgs {
  std::string db;
  std::vector<std::string> files;
  HistoryFilter filter;
  std::string commits;  // A..B
  std::string format = "jsonl";
  std::string out;
  std::string run;
  std::string rev;
  bool json_output = false;
};

const Column kRunColumns[] = {
    {"run_id", "run"},
    {"kind", "kind"},
    {"started", "started"},
    {"hostname", "host"},
    {"cpu_model", "cpu"},
    {"revision", "commit"},
    {"dirty", "dirty"},
    {"records", "records", MdStyle::integer},
    {"models", "models", MdStyle::integer},
};

// Export's CSV columns, and show's table (those with a Markdown header).
const Column kRecordColumns[] = {
    {"run_id", ""},
    {"schema", "schema"},
    {"time", ""},
    bench_columns::kModel,
    {"model.sha256", ""},
    bench_columns::kKernels,
    bench_columns::kThreads,
    bench_columns::kTest,
    {"tokens_per_second", "t/s", MdStyle::mean_stddev, CsvCells::none},
    {"tokens_per_second.median", "median t/s"},
    {"environment.build.git.revision", ""},
    {"environment.build.git.dirty", ""},
    {"environment.hostname", ""},
    {"environment.cpu.model", ""},
};

const Column kTrendColumns[] = {
    {"commit", "commit"},
    {"dirty", "dirty"},
    {"first_time", "first measured"},
    {"records", "records", MdStyle::integer},
    {"median", "median t/s"},
    {"min", "min"},
    {"max", "max"},
    {"change", "vs previous", MdStyle::percent},
};

void print(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
}

std::unique_ptr<HistoryStore> open_store(const HistoryArgs& args) {
  return open_history_store(args.db.empty() ? default_history_url() : args.db);
}

HistoryFilter filter_of(const HistoryArgs& args) {
  HistoryFilter f = args.filter;
  if (!args.commits.empty()) f.commits = git_revision_range(args.commits);
  return f;
}

void add(const HistoryArgs& args) {
  const auto store = open_store(args);
  int64_t records = 0, added = 0;
  int failed = 0;
  for (const std::string& file : args.files) {
    try {
      const ImportCounts c = import_history_file(*store, file);
      fmt::print("{}: {} records, {} new\n", file, c.records, c.added);
      records += c.records, added += c.added;
    } catch (const RetryableDbError&) {
      throw;
    } catch (const Error& e) {  // this file imports nothing; the others still do
      std::fprintf(stderr, "llamascope: error: %s\n", e.what());
      ++failed;
    }
  }
  fmt::print("history: {} of {} files imported into {} ({}): {} records, {} new\n",
             args.files.size() - failed, args.files.size(), store->location(), store->backend(), records,
             added);
  if (failed) command_exit_status() = 2;
}

void list(const HistoryArgs& args) {
  const auto store = open_store(args);
  const std::vector<json> runs = history_runs(*store, filter_of(args));
  if (args.json_output) {
    for (const json& r : runs) print(r.dump() + "\n");
    return;
  }
  print(format_records(runs, kRunColumns, OutputFormat::md));
}

void show(const HistoryArgs& args) {
  const auto store = open_store(args);
  HistoryFilter f;
  f.run = args.run;
  const std::vector<json> runs = history_runs(*store, f);
  if (runs.empty()) throw Error("history show: no run '" + args.run + "' in " + store->location());
  if (runs.size() > 1)
    throw Error(
        fmt::format("history show: '{}' names {} runs; give more of the run id", args.run, runs.size()));
  f.run = runs[0]["run_id"].get<std::string>();
  const std::vector<json> records = history_records(*store, f);
  print(format_records(std::span<const json>(runs.data(), 1), kRunColumns, OutputFormat::md));
  for (const json& r : records)
    if (r.contains("environment")) {
      const json& env = r["environment"];
      fmt::print("\nenvironment: {} | {} | {} | {} {} | isa {}\n", value_at(env, "/hostname").dump(),
                 value_at(env, "/cpu/model").dump(), value_at(env, "/os/distribution").dump(),
                 value_at(env, "/build/compiler").dump(), value_at(env, "/build/build_type").dump(),
                 value_at(env, "/cpu/isa").dump());
      break;
    }
  print("\n" + format_records(records, kRecordColumns, OutputFormat::md));
}

void export_records(const HistoryArgs& args) {
  if (args.format != "jsonl" && args.format != "csv")
    throw Error("history export: --format must be jsonl or csv, not '" + args.format + "'");
  const auto store = open_store(args);
  const std::vector<json> records = history_records(*store, filter_of(args));
  const std::string text =
      format_records(records, kRecordColumns, args.format == "csv" ? OutputFormat::csv : OutputFormat::jsonl);
  if (args.out.empty())
    print(text);
  else
    write_file_atomically(args.out, text);
}

void trend(const HistoryArgs& args) {
  if (args.filter.model.empty() || args.filter.test.empty())
    throw Error("history trend: give --model and --test");
  const auto store = open_store(args);
  const json t = history_trend(*store, filter_of(args));
  if (args.json_output) {
    print(t.dump(2) + "\n");
    return;
  }
  if (t["series"].empty())
    throw Error(fmt::format("history trend: no bench records of model '{}', test '{}' match",
                            args.filter.model, args.filter.test));
  for (const json& s : t["series"]) {
    fmt::print("\n{} {} tokens/s | kernels {} | {} threads | {}\n\n", args.filter.model, args.filter.test,
               s["kernels"].get<std::string>(), s["threads"].get<int64_t>(), s["machine"].get<std::string>());
    const std::vector<json> points = s["points"];
    print(format_records(points, kTrendColumns, OutputFormat::md));
  }
}

void baseline(const HistoryArgs& args) {
  const auto store = open_store(args);
  const std::vector<json> records = history_baseline_records(*store, args.rev, args.filter.machine);
  const std::string text = format_records(records, kRecordColumns, OutputFormat::jsonl);
  if (args.out.empty())
    print(text);
  else
    write_file_atomically(args.out, text);
  std::fprintf(stderr, "history baseline: %zu records at %s\n", records.size(), args.rev.c_str());
}

void add_filter_flags(CLI::App& cmd, HistoryArgs& a) {
  cmd.add_option("--model", a.filter.model, "model file name or sha256 prefix");
  cmd.add_option("--kernels", a.filter.kernels, "kernel set as recorded (e.g. simd)");
  cmd.add_option("--machine", a.filter.machine, "hostname, or part of the CPU model name");
  cmd.add_option("--commit", a.filter.commit, "git revision prefix");
  cmd.add_option("--commits", a.commits, "git range A..B (resolved with git rev-list in this folder)");
  cmd.add_option("--since", a.filter.since, "records at or after this ISO 8601 date/time");
  cmd.add_option("--until", a.filter.until, "records at or before this ISO 8601 date/time");
  cmd.add_option("--test", a.filter.test, "bench test name (tg64, pp128)");
  cmd.add_option("--threads", a.filter.threads, "thread count");
}

}  // namespace

void register_history_command(CLI::App& app) {
  auto a = std::make_shared<HistoryArgs>();
  const std::string db_help =
      "store: a SQLite file (default $LLAMASCOPE_HISTORY or ./llamascope-history.sqlite) or "
      "postgresql://..." +
      std::string(history_postgres_available() ? ""
                                               : " (PostgreSQL: not in this build; libpq was not found)");
  auto* cmd = app.add_subcommand(
      "history", std::string("Results store: import result files, list, export, trends, baselines "
                             "(SQLite; PostgreSQL ") +
                     (history_postgres_available() ? "built in)" : "not in this build: no libpq)"));
  cmd->require_subcommand(1);
  auto sub = [&](const char* name, const char* help, auto run) {
    auto* s = cmd->add_subcommand(name, help);
    s->add_option("--db", a->db, db_help);
    s->callback([a, run] { run(*a); });
    return s;
  };
  sub("add", "import bench, profile, golden (any llamascope.*) JSONL files", add)
      ->add_option("files", a->files, "JSONL files")
      ->required();
  add_filter_flags(*sub("list", "runs in the store, filtered", list), *a);
  cmd->get_subcommand("list")->add_flag("--json", a->json_output, "one JSON object per run");
  sub("show", "one run: its environment and records", show)
      ->add_option("run", a->run, "run id or prefix")
      ->required();
  auto* exp = sub("export", "the stored records, whole, as JSONL or CSV", export_records);
  add_filter_flags(*exp, *a);
  exp->add_option("--format", a->format, "jsonl or csv")->capture_default_str();
  exp->add_option("--schema", a->filter.schema, "only records of this schema (llamascope.bench/1)");
  exp->add_option("-o,--out", a->out, "write to FILE (atomically) instead of stdout");
  auto* tr = sub("trend", "tokens/s of a model and test over commits", trend);
  add_filter_flags(*tr, *a);
  tr->add_flag("--json", a->json_output, "the series as JSON (for plots)");
  auto* base =
      sub("baseline", "the bench and profile records at a commit (what gate --baseline history:REV reads)",
          baseline);
  base->add_option("--commit", a->rev, "revision prefix or git ref")->required();
  base->add_option("--machine", a->filter.machine, "only this host / CPU model");
  base->add_option("-o,--out", a->out, "write JSONL to FILE (atomically) instead of stdout");
}

}  // namespace llamascope
