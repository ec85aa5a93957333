// The gate's record reader on arbitrary bytes as a JSONL result file: load_records, then the series of
// bench and profile records (per op and per layer), each compared with itself and summarised as the gate
// would print it.
#include "harness/gate_compare.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace llamascope;
  const fuzz::MemoryFile file(data, size);
  fuzz::expect_only_errors([&] {
    const std::vector<nlohmann::json> records = gate::load_records(file.path());
    for (const bool by_layer : {false, true}) {
      fuzz::expect_only_errors([&] {
        const gate::SeriesMap series = gate::series_from_records(records, by_layer);
        const gate::GateOptions options;
        const std::vector<gate::Comparison> comparisons = gate::compare(series, series, options);
        gate::exit_status(comparisons);
        gate::markdown_summary(comparisons, options, "fuzz");
        gate::json_summary(comparisons, options, "fuzz").dump();
      });
    }
  });
  return 0;
}
