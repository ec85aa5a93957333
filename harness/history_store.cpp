// Picks the results history's backend from a --db URL and brings its schema up to date.
#include "harness/history_store.h"

#include <cstdlib>
#include <string>

namespace llamascope {

bool history_postgres_available() {
#ifdef LLAMASCOPE_HAVE_POSTGRES
  return true;
#else
  return false;
#endif
}

std::string default_history_url() {
  const char* env = std::getenv("LLAMASCOPE_HISTORY");
  return env && *env ? env : "llamascope-history.sqlite";
}

std::unique_ptr<HistoryStore> open_history_store(const std::string& url) {
  if (url.empty()) throw Error("history: empty --db");
  std::unique_ptr<HistoryStore> store;
  if (url.starts_with("postgresql://") || url.starts_with("postgres://")) {
    if (!history_postgres_available())
      throw Error(
          "history: this llamascope was built without PostgreSQL support (libpq was not found when "
          "it was configured; install libpq-dev and rebuild)");
    store = open_postgres_store(url);
  } else {
    store = open_sqlite_store(url.starts_with("sqlite:") ? url.substr(7) : url);
  }
  migrate_history_schema(*store);
  return store;
}

#ifndef LLAMASCOPE_HAVE_POSTGRES
std::unique_ptr<HistoryStore> open_postgres_store(const std::string&) {
  throw Error("history: this llamascope was built without PostgreSQL support");
}
#endif

}  // namespace llamascope
