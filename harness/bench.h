// Inside `llamascope bench`: its arguments, the tests of its matrix, and the parts that run it, each in its
// own file: bench.cpp (flags and the matrix), bench_run.cpp (the timing loop), bench_record.cpp (the record
// of a row and the outputs it goes to).
#pragma once

#include <fmt/format.h>

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "engine/forward.h"
#include "engine/model.h"
#include "harness/ab.h"
#include "harness/bench_shard.h"
#include "harness/environment.h"
#include "harness/machine_roofs.h"
#include "harness/records.h"

namespace llamascope::bench {

struct BenchArgs {
  std::vector<std::string> models;
  std::string kernels;
  std::vector<int> threads;
  std::vector<int> n_prompt = {128};
  std::vector<int> n_gen = {64};
  std::vector<std::string> pg;
  int repetitions = 5;
  int warmup = 1;
  std::string output = "md";
  std::string out_file;
  double bandwidth_gbps = 0;
  bool progress = true;
  std::string shard;  // I/N (bench_shard.h)
  bool list = false;  // print this shard's rows of the matrix and run nothing
  std::string kv_type = "f32";
  AbSpec ab;  // --ab A --vs B: the two sets in one process, step by step, with B's speed-up over A
};

// One test of the matrix: n_prompt tokens in one batch, then n_gen generated one at a time.
struct BenchTest {
  int n_prompt = 0;
  int n_gen = 0;
  std::string name() const {
    if (n_gen == 0) return fmt::format("pp{}", n_prompt);
    if (n_prompt == 0) return fmt::format("tg{}", n_gen);
    return fmt::format("pp{}+tg{}", n_prompt, n_gen);
  }
  // Positions the KV cache must hold: a tg test first feeds one BOS token.
  int context() const { return (n_prompt == 0 ? 1 : n_prompt) + n_gen; }
};

// The matrix with every default applied and every list checked; positions count models, then kernel sets,
// then thread counts, then tests, and a shard runs the positions it contains.
struct Matrix {
  std::vector<std::string> models;
  std::vector<std::string> kernel_sets;
  std::vector<int> threads;
  std::vector<BenchTest> tests;
  BenchShard shard;
  size_t per_pair() const { return tests.size(); }
  size_t per_model() const { return kernel_sets.size() * threads.size() * per_pair(); }
  int rows_in_shard() const;
};

// One repetition of a test.
struct Sample {
  double timed_ns = 0;  // what tokens/s is computed from
  double ttft_ns = -1;  // prompt (or BOS) eval + choosing the first token; -1 when the test generates nothing
  double decode_ns = 0;  // the n_gen single-token evals (with greedy choice)
  int tokens = 0;
};

// Whether Ctrl-C was pressed during the run (bench_run.cpp).
bool interrupted();

// The repetitions of one row, as measured.
struct RowTimes {
  std::vector<double> tps, timed_ns, ttft_ns, tpot_ns;
};

// What a row's record is made of besides its timings.
struct RowContext {
  const BenchArgs& args;
  const std::string& run_id;
  const MachineLimits& limits;
  const nlohmann::json& environment;
  const std::string& model_path;
  const Model& model;
  const nlohmann::json& identity;
  const std::string& kernel_spec;
  const KernelSet& kernels;
  const Forward& forward;
  int n_threads = 0;
};

// Adds one repetition's sample to a row's times.
void add_sample(RowTimes& times, const BenchTest& test, const Sample& sample);

// One row of an A/B: both sides' repetitions and every timed step's pair of times.
struct AbRow {
  RowTimes times[2];
  std::vector<double> step_ns[2];
  int turn = 0;  // pairs so far: which side goes first next
  // One repetition of `test`, A and B in turns step by step (harness/ab.h): the prompt (or the untimed
  // BOS), then each generated token. False when interrupted part-way (nothing is added then).
  bool add_repetition(const AbSets& sets, const BenchTest& test, const std::vector<int32_t>& prompt,
                      int32_t bos, std::vector<float> logits[2]);
};

// bench_run.cpp: runs the shard's rows, streaming each finished row to the outputs.
void run_matrix(const BenchArgs& args, const Matrix& matrix);

// bench_record.cpp: the `llamascope.bench/1` record of a finished row.
nlohmann::json bench_record(const RowContext& row, const BenchTest& test, size_t position,
                            const RowTimes& times, bool per_row_peak);

// Where rows go as they finish: stdout in the chosen format (Markdown when --out is given), and --out
// rewritten atomically after every row.
class RowOutputs {
 public:
  RowOutputs(const BenchArgs& args, std::function<void()> before_stdout);
  void add(nlohmann::json record);
  size_t count() const { return records_.size(); }
  bool markdown_stdout() const { return stdout_format_ == OutputFormat::md; }

 private:
  void emit_stdout(const std::string& text);
  const BenchArgs& args_;
  OutputFormat format_;
  OutputFormat stdout_format_;
  std::function<void()> before_stdout_;
  std::vector<nlohmann::json> records_;
};

}  // namespace llamascope::bench
