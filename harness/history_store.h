// The results history's database connection (docs/history.md): one small interface with two backends,
// SQLite (one machine; the default) and PostgreSQL (a fleet writing to one server). Everything above this
// interface (schema, import, queries) is written once in the SQL both dialects share: `$1`-style
// parameters, INSERT ... ON CONFLICT DO NOTHING, RETURNING.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "base/error.h"

namespace llamascope {

using SqlValue = std::variant<std::nullptr_t, int64_t, double, std::string>;
using SqlRow = std::vector<std::optional<std::string>>;  // each column as text; nullopt for NULL

// A failure the caller may retry from the start of its transaction: SQLite's SQLITE_BUSY/SQLITE_LOCKED
// after the busy timeout, PostgreSQL's deadlock and serialization failures.
class RetryableDbError : public Error {
 public:
  using Error::Error;
};

class HistoryStore {
 public:
  virtual ~HistoryStore() = default;
  virtual std::string backend() const = 0;   // "sqlite" or "postgresql"
  virtual std::string location() const = 0;  // the file or the URL without its password
  // Runs one or more statements without parameters (DDL).
  virtual void execute(const std::string& sql) = 0;
  // Runs one statement with $1..$N parameters; returns its rows (none for a plain INSERT). Statements are
  // prepared once per connection and reused.
  virtual std::vector<SqlRow> query(const std::string& sql, const std::vector<SqlValue>& params = {}) = 0;
  // A write transaction. SQLite takes the write lock at once (BEGIN IMMEDIATE) so two writers queue on
  // the busy timeout instead of failing half-way.
  virtual void begin() = 0;
  virtual void commit() = 0;
  virtual void rollback() noexcept = 0;
  // Column type of an auto-numbered primary key in this dialect.
  virtual std::string id_column_type() const = 0;
  // Serializes schema migrations between processes for the rest of the current transaction (PostgreSQL
  // takes an advisory lock; SQLite's BEGIN IMMEDIATE already does).
  virtual void lock_for_migration() = 0;
};

// Opens a store: "postgresql://..." or "postgres://..." (libpq connection URI), "sqlite:PATH" or a plain
// file path. Brings the schema up to date (history_schema.cpp). Error when the backend is not built in or
// the database cannot be opened.
std::unique_ptr<HistoryStore> open_history_store(const std::string& url);

// The store used without --db: $LLAMASCOPE_HISTORY, else llamascope-history.sqlite in the working folder.
std::string default_history_url();

// Whether this build has the PostgreSQL backend (libpq found at configure time).
bool history_postgres_available();

// Backend constructors (history_sqlite.cpp, history_postgres.cpp); open_history_store picks one.
std::unique_ptr<HistoryStore> open_sqlite_store(const std::string& path);
std::unique_ptr<HistoryStore> open_postgres_store(const std::string& url);

// Creates or migrates the schema forward to `target` (0: the newest version); returns the version the
// store has afterwards. Error when the store is newer than this llamascope.
int migrate_history_schema(HistoryStore& store, int target = 0);
int latest_history_schema_version();

}  // namespace llamascope
