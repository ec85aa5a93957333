// The SQLite backend of the results history: one file, WAL journal (readers never block the writer), a
// busy timeout so concurrent `history add` processes queue for the write lock, statements prepared once
// per connection.
#include <fmt/format.h>
#include <sqlite3.h>

#include <map>
#include <string>

#include "harness/history_store.h"

namespace llamascope {
namespace {

constexpr int kBusyTimeoutMs = 60000;

bool is_busy(int rc) {
  const int primary = rc & 0xff;
  return primary == SQLITE_BUSY || primary == SQLITE_LOCKED;
}

class SqliteStore final : public HistoryStore {
 public:
  explicit SqliteStore(const std::string& path) : path_(path) {
    const int rc = sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    if (rc != SQLITE_OK) {
      const std::string message = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      sqlite3_close(db_);
      db_ = nullptr;
      throw Error("history: cannot open SQLite database '" + path + "': " + message);
    }
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_timeout(db_, kBusyTimeoutMs);
    // A 64 MiB page cache keeps a large import's index pages in memory until it commits.
    execute(
        "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL; PRAGMA "
        "cache_size=-65536;");
  }
  ~SqliteStore() override {
    for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
    sqlite3_close(db_);
  }

  std::string backend() const override { return "sqlite"; }
  std::string location() const override { return path_; }
  std::string id_column_type() const override { return "INTEGER PRIMARY KEY"; }
  void lock_for_migration() override {}

  void execute(const std::string& sql) override {
    char* message = nullptr;
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message);
    if (rc != SQLITE_OK) {
      const std::string text = message ? message : sqlite3_errstr(rc);
      sqlite3_free(message);
      fail(rc, text);
    }
  }

  std::vector<SqlRow> query(const std::string& sql, const std::vector<SqlValue>& params) override {
    sqlite3_stmt* stmt = prepare(sql);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    for (size_t i = 0; i < params.size(); ++i) bind(stmt, static_cast<int>(i + 1), params[i]);
    std::vector<SqlRow> rows;
    const int columns = sqlite3_column_count(stmt);
    for (;;) {
      const int rc = sqlite3_step(stmt);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) {
        sqlite3_reset(stmt);
        fail(rc, sqlite3_errmsg(db_));
      }
      SqlRow& row = rows.emplace_back(static_cast<size_t>(columns));
      for (int c = 0; c < columns; ++c) {
        const int type = sqlite3_column_type(stmt, c);
        if (type ==
            SQLITE_FLOAT)  // shortest text that reads back to the same double (SQLite's has 15 digits)
          row[c] = fmt::format("{}", sqlite3_column_double(stmt, c));
        else if (type != SQLITE_NULL)
          row[c] = reinterpret_cast<const char*>(sqlite3_column_text(stmt, c));
      }
    }
    sqlite3_reset(stmt);
    return rows;
  }

  void begin() override { execute("BEGIN IMMEDIATE"); }
  void commit() override { execute("COMMIT"); }
  void rollback() noexcept override { sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr); }

 private:
  [[noreturn]] void fail(int rc, const std::string& message) {
    const std::string text = "history: SQLite " + path_ + ": " + message;
    if (is_busy(rc)) throw RetryableDbError(text);
    throw Error(text);
  }

  // SQLite reads `?NNN` where the shared SQL writes `$NNN`.
  static std::string to_sqlite_params(const std::string& sql) {
    std::string out = sql;
    for (size_t i = 0; i + 1 < out.size(); ++i)
      if (out[i] == '$' && out[i + 1] >= '0' && out[i + 1] <= '9') out[i] = '?';
    return out;
  }

  sqlite3_stmt* prepare(const std::string& sql) {
    auto it = statements_.find(sql);
    if (it != statements_.end()) return it->second;
    sqlite3_stmt* stmt = nullptr;
    const std::string text = to_sqlite_params(sql);
    const int rc = sqlite3_prepare_v3(db_, text.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) fail(rc, std::string(sqlite3_errmsg(db_)) + " in: " + sql);
    statements_.emplace(sql, stmt);
    return stmt;
  }

  void bind(sqlite3_stmt* stmt, int index, const SqlValue& value) {
    int rc = SQLITE_OK;
    if (std::holds_alternative<std::nullptr_t>(value))
      rc = sqlite3_bind_null(stmt, index);
    else if (const auto* i = std::get_if<int64_t>(&value))
      rc = sqlite3_bind_int64(stmt, index, *i);
    else if (const auto* d = std::get_if<double>(&value))
      rc = sqlite3_bind_double(stmt, index, *d);
    else {
      const std::string& s = std::get<std::string>(value);
      rc = sqlite3_bind_text(stmt, index, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    }
    if (rc != SQLITE_OK) fail(rc, sqlite3_errmsg(db_));
  }

  std::string path_;
  sqlite3* db_ = nullptr;
  std::map<std::string, sqlite3_stmt*> statements_;
};

}  // namespace

std::unique_ptr<HistoryStore> open_sqlite_store(const std::string& path) {
  return std::make_unique<SqliteStore>(path);
}

}  // namespace llamascope
