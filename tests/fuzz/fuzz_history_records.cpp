// The results-history importer (`llamascope history add`) on arbitrary bytes as a JSONL result file,
// into an in-memory SQLite store, then read back: whole records, runs, and the gate's baseline at the
// revision the records name (`gate --baseline history:REV`) turned into series. The store is opened once
// (its schema migration is the slow part) and emptied after every input.
#include "harness/gate_compare.h"
#include "harness/history.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace llamascope;
  static HistoryStore* const store = open_history_store("sqlite::memory:").release();
  const fuzz::MemoryFile file(data, size);
  fuzz::expect_only_errors([&] {
    import_history_file(*store, file.path());
    history_records(*store, {});
    history_runs(*store, {});
    const auto revisions = store->query(
        "SELECT git_revision FROM environments WHERE git_revision IS NOT NULL AND git_revision <> '' LIMIT "
        "1");
    if (revisions.empty() || !revisions[0][0]) return;
    fuzz::expect_only_errors(
        [&] { gate::series_from_records(history_baseline_records(*store, *revisions[0][0]), false); });
  });
  store->execute(
      "DELETE FROM samples; DELETE FROM results; DELETE FROM runs; DELETE FROM environments; "
      "DELETE FROM models;");
  return 0;
}
