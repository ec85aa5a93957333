// The results history's schema and its forward migrations (docs/history.md, "Schema"). Each migration runs
// once, in order, inside one transaction that also records it in schema_migrations; a store written by an
// older llamascope is brought forward when it is opened, and one written by a newer llamascope is refused.
#include <fmt/format.h>

#include <string>
#include <vector>

#include "harness/environment.h"
#include "harness/history_store.h"

namespace llamascope {
namespace {

struct Migration {
  int version;
  const char* description;
  const char* sql;  // {id}: the dialect's auto-numbered primary key
};

// Never edit a migration that has shipped: append a new one.
const Migration kMigrations[] = {
    {1, "environments, models, runs, results, samples", R"(
CREATE TABLE environments (
  id {id},
  env_hash TEXT NOT NULL UNIQUE,
  hostname TEXT, cpu_model TEXT, cpu_isa TEXT, logical_cpus BIGINT, memory_bytes BIGINT, gpu TEXT, os TEXT,
  compiler TEXT, build_type TEXT, version TEXT, git_revision TEXT, git_dirty INTEGER,
  body TEXT NOT NULL);
CREATE INDEX environments_revision ON environments (git_revision);
CREATE INDEX environments_machine ON environments (hostname, cpu_model);
CREATE TABLE models (
  id {id},
  identity_hash TEXT NOT NULL UNIQUE,
  sha256 TEXT, name TEXT NOT NULL, format TEXT, weight_types TEXT, parameter_count BIGINT, file_bytes BIGINT,
  body TEXT NOT NULL);
CREATE INDEX models_name ON models (name);
CREATE INDEX models_sha256 ON models (sha256);
CREATE TABLE runs (
  id {id},
  run_id TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL, started TEXT, environment_id BIGINT REFERENCES environments (id),
  source TEXT NOT NULL, imported_at TEXT NOT NULL);
CREATE INDEX runs_environment ON runs (environment_id);
CREATE INDEX runs_started ON runs (started);
CREATE TABLE results (
  id {id},
  record_hash TEXT NOT NULL UNIQUE,
  run_id BIGINT NOT NULL REFERENCES runs (id),
  environment_id BIGINT REFERENCES environments (id),
  record_schema TEXT NOT NULL, model_id BIGINT REFERENCES models (id), kernels TEXT, threads BIGINT,
  test TEXT, n_prompt BIGINT, n_gen BIGINT, step BIGINT, layer BIGINT, finished_at TEXT,
  metric TEXT, value DOUBLE PRECISION, value_stddev DOUBLE PRECISION, passed INTEGER, line BIGINT,
  body TEXT NOT NULL);
CREATE INDEX results_run ON results (run_id);
CREATE INDEX results_series ON results (model_id, test, kernels, threads);
CREATE INDEX results_schema ON results (record_schema);
CREATE TABLE samples (
  result_id BIGINT NOT NULL REFERENCES results (id),
  metric TEXT NOT NULL, idx INTEGER NOT NULL, value DOUBLE PRECISION NOT NULL,
  PRIMARY KEY (result_id, metric, idx));
)"},
    {2, "index results by time for --since/--until", R"(
CREATE INDEX results_finished ON results (finished_at);
)"},
};

std::string expand(const std::string& sql, const std::string& id_type) {
  std::string out = sql;
  for (size_t at = out.find("{id}"); at != std::string::npos; at = out.find("{id}", at))
    out.replace(at, 4, id_type);
  return out;
}

int current_version(HistoryStore& store) {
  const auto rows = store.query("SELECT MAX(version) FROM schema_migrations");
  return rows.empty() || !rows[0][0] ? 0 : std::stoi(*rows[0][0]);
}

}  // namespace

int latest_history_schema_version() {
  return kMigrations[std::size(kMigrations) - 1].version;
}

int migrate_history_schema(HistoryStore& store, int target) {
  if (target <= 0) target = latest_history_schema_version();
  for (int attempt = 0;; ++attempt) {
    try {
      store.begin();
      store.lock_for_migration();
      store.execute(
          "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT "
          "NULL, applied_at TEXT NOT NULL)");
      const int have = current_version(store);
      if (have > latest_history_schema_version())
        throw Error(fmt::format("history: {} has schema version {}, newer than this llamascope knows ({})",
                                store.location(), have, latest_history_schema_version()));
      for (const Migration& m : kMigrations) {
        if (m.version <= have || m.version > target) continue;
        store.execute(expand(m.sql, store.id_column_type()));
        store.query("INSERT INTO schema_migrations (version, description, applied_at) VALUES ($1, $2, $3)",
                    {int64_t{m.version}, std::string(m.description), utc_now_iso8601()});
      }
      store.commit();
      return std::max(have, target);
    } catch (const RetryableDbError&) {
      store.rollback();
      if (attempt >= 20) throw;
    } catch (...) {
      store.rollback();
      throw;
    }
  }
}

}  // namespace llamascope
