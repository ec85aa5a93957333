// `llamascope bench`: tokens/s over the matrix models x kernel sets x thread counts x tests, as llama-bench
// defines the tests (ppN: an N-token prompt in one batch; tgN: N tokens generated one at a time; ppP+tgN:
// both, as one request). This file holds the flags and the matrix they describe; bench_run.cpp times the
// rows and bench_record.cpp writes them.
#include "harness/bench.h"

#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "harness/commands.h"
#include "harness/common.h"
#include "harness/model_inputs.h"

namespace llamascope {

namespace bench {

int Matrix::rows_in_shard() const {
  int total = 0;
  for (size_t p = 0; p < models.size() * per_model(); ++p) total += shard.contains(p);
  return total;
}

namespace {

std::vector<BenchTest> expand_tests(const BenchArgs& args) {
  std::vector<BenchTest> tests;
  for (int p : args.n_prompt) {
    if (p < 0) throw Error("-p: prompt lengths must be >= 0");
    if (p > 0) tests.push_back({p, 0});
  }
  for (int n : args.n_gen) {
    if (n < 0) throw Error("-n: generation lengths must be >= 0");
    if (n > 0) tests.push_back({0, n});
  }
  for (const std::string& pair : args.pg) {
    int p = 0, n = 0;
    char extra = 0;
    if (std::sscanf(pair.c_str(), "%d,%d%c", &p, &n, &extra) != 2 || p <= 0 || n <= 0)
      throw Error("--pg '" + pair + "': expected PROMPT,GEN with both > 0, e.g. --pg 128,32");
    tests.push_back({p, n});
  }
  if (tests.empty()) throw Error("nothing to run: every -p and -n is 0 and no --pg was given");
  return tests;
}

// The flags' lists with their defaults, checked, in the order bench reports errors.
Matrix matrix_from(const BenchArgs& args) {
  Matrix m;
  m.tests = expand_tests(args);
  m.models = args.models;
  if (m.models.empty()) m.models.push_back(bundled_model_path());
  if (args.ab.enabled()) {  // one A/B: its two sets, whole (a set given to --ab may contain commas)
    args.ab.check();
    if (!args.kernels.empty()) throw Error("--ab A --vs B names both kernel sets: leave out -k");
    if (!args.shard.empty()) throw Error("--ab runs both sets in one process: it cannot be sharded");
    if (args.repetitions < 2) throw Error("--ab needs -r 2 or more: the sets are prepared in both orders");
    m.kernel_sets = {args.ab.a, args.ab.b};
  } else {
    m.kernel_sets = KernelSet::split_list(args.kernels.empty() ? default_kernel_set() : args.kernels);
  }
  m.threads = args.threads;
  if (m.threads.empty()) {  // one thread and all of them: the scaling is half of what a bench is for
    m.threads.push_back(1);
    if (logical_cpus() > 1) m.threads.push_back(logical_cpus());
  }
  for (int t : m.threads)
    if (t < 1 || t > 1024) throw Error(fmt::format("-t {}: thread counts must be 1..1024", t));
  for (const std::string& k : m.kernel_sets)
    if (k.empty()) throw Error("-k: empty kernel set in '" + args.kernels + "'");
  if (!args.ab.enabled()) m.shard = bench_shard_from(args.shard);  // an A/B runs whole
  return m;
}

// `bench --list`: the shard's rows in bench's order: position, model, kernel set, threads, test.
void list_matrix(const Matrix& m) {
  size_t p = 0;
  for (const std::string& model : m.models)
    for (const std::string& k : m.kernel_sets)
      for (int t : m.threads)
        for (const BenchTest& test : m.tests)
          if (m.shard.contains(p++)) fmt::print("{}\t{}\t{}\t{}\t{}\n", p - 1, model, k, t, test.name());
}

void bench(const BenchArgs& args) {
  parse_output_format(args.output);  // an unknown format is the first error reported
  if (args.repetitions < 1) throw Error("-r: repetitions must be >= 1");
  if (args.warmup < 0) throw Error("--warmup must be >= 0");
  const Matrix matrix = matrix_from(args);
  if (args.list) return list_matrix(matrix);
  run_matrix(args, matrix);
}

}  // namespace
}  // namespace bench

void register_bench_command(CLI::App& app) {
  auto args = std::make_shared<bench::BenchArgs>();
  auto* cmd =
      app.add_subcommand("bench", "Tokens/s over models x kernel sets x threads x tests (llama-bench style)");
  cmd->add_option("-m,--model", args->models,
                  "models, comma-separated (default: the bundled stories260K-f32.gguf)")
      ->delimiter(',');
  cmd->add_option("-k,--kernels", args->kernels,
                  "kernel sets, comma-separated; an OP=BACKEND item belongs to the set before it (default: " +
                      default_kernel_set() + ")");
  cmd->add_option("-t,--threads", args->threads,
                  "thread counts, comma-separated (default: 1 and the logical CPUs)")
      ->delimiter(',');
  cmd->add_option("-p,--n-prompt", args->n_prompt, "ppN tests: prompt lengths, comma-separated (0: none)")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("-n,--n-gen", args->n_gen, "tgN tests: tokens to generate, comma-separated (0: none)")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--pg", args->pg, "ppP+tgN tests: P,N (repeatable)");
  cmd->add_option("-r,--repetitions", args->repetitions, "timed repetitions of each test")
      ->capture_default_str();
  cmd->add_option("--warmup", args->warmup, "untimed runs before the repetitions")->capture_default_str();
  cmd->add_option("-o,--output", args->output, "md, jsonl or csv")->capture_default_str();
  cmd->add_option("--out", args->out_file,
                  "write the output to FILE (atomically, after every row); stdout shows the table");
  cmd->add_option("--bandwidth", args->bandwidth_gbps,
                  "this machine's memory bandwidth in GB/s (default: measured once and cached)");
  cmd->add_flag("!--no-progress", args->progress, "no progress line on stderr");
  cmd->add_option("--shard", args->shard,
                  "run the I-th of N disjoint parts of the matrix (default: JOB_COMPLETION_INDEX/"
                  "JOB_COMPLETIONS or SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT when set)");
  cmd->add_flag("--list", args->list, "print the matrix rows (this shard's) without running them");
  add_kv_type_flag(*cmd, args->kv_type);
  cmd->add_option("--ab", args->ab.a,
                  "A/B in one process: kernel set A (one set; commas belong to it), compared with --vs");
  cmd->add_option("--vs", args->ab.b,
                  "A/B: kernel set B; each test steps A and B in turns and records B's speed-up over A");
  cmd->callback([args] { bench::bench(*args); });
}

}  // namespace llamascope
