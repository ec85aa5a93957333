// The results history (docs/history.md): importing result files (bench, profile, golden and any other
// llamascope.* records, with their environment) into a HistoryStore, and the queries the `history`
// command, the gate's `--baseline history:REV` and the report scripts read: runs, full records, trends
// over commits and the baseline of a commit.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/history_store.h"

namespace llamascope {

// ---- import (history_import.cpp) ----
struct ImportCounts {
  int64_t records = 0;  // lines with a record in the file
  int64_t added = 0;    // records the store did not hold yet
};
// Imports every record of one JSONL file in one transaction (retried as a whole when the database is
// busy or deadlocked). A line that is not a llamascope record makes the file import nothing: Error
// "FILE:LINE: ...". The natural key of a record is the SHA-256 of its canonical JSON (keys sorted), so a
// record imported twice is stored once.
ImportCounts import_history_file(HistoryStore& store, const std::string& path);

// ---- queries (history_query.cpp) ----
// Filters shared by list, export and trend; an empty field does not filter.
struct HistoryFilter {
  std::string model;                 // model file name, or a prefix of its sha256
  std::string kernels;               // kernel-set spec as recorded
  std::string machine;               // hostname, or part of the CPU model name
  std::string commit;                // a prefix of the recorded git revision
  std::vector<std::string> commits;  // revisions of a range (from `git rev-list A..B`), 12 digits
  std::string since, until;          // ISO 8601 dates/times, compared with the record's time
  std::string test;                  // bench test name (tg64)
  std::string schema;                // e.g. llamascope.bench/1
  int threads = 0;
  std::string run;  // run_id or a prefix of it
};

// One row per run: run_id, kind, started, hostname, cpu_model, revision, dirty, records, models.
std::vector<nlohmann::json> history_runs(HistoryStore& store, const HistoryFilter& filter);

// The stored records, whole again (environment, model and samples put back from their tables), in import
// order; each record equals the line that was imported.
std::vector<nlohmann::json> history_records(HistoryStore& store, const HistoryFilter& filter);

// tokens/s of the filter's bench records over commits: one series per (kernels, threads, machine), each
// point a commit with the median, min and max of its records' medians, in the order the commits were
// first measured (with filter.commits, a git range, in the range's order, oldest first). {"model", "test",
// "series": [{"kernels", "threads", "machine", "points": [...]}]}
nlohmann::json history_trend(HistoryStore& store, const HistoryFilter& filter);

// The records a gate compares against, at commit REV (a revision prefix, else resolved with `git
// rev-parse` in the working folder): the newest bench record per (model sha256, kernels, threads, test,
// hostname), then the newest profile run per (model sha256, kernels, threads, hostname) whole (its
// profile, step and layer records). Error when there are none.
std::vector<nlohmann::json> history_baseline_records(HistoryStore& store, const std::string& rev,
                                                     const std::string& machine = "");
std::vector<nlohmann::json> history_baseline_records(const std::string& db_url, const std::string& rev);

// Revisions (12 digits) of a `git rev-list` range in the working folder's repository; Error outside one.
std::vector<std::string> git_revision_range(const std::string& range);

}  // namespace llamascope
