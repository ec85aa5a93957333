// `llamascope bench`: tokens/s over the matrix models x kernel sets x thread counts x tests, as llama-bench
// defines the tests (ppN: an N-token prompt in one batch; tgN: N tokens generated one at a time; ppP+tgN:
// both, as one request). Each test runs after a warm-up, -r times, and every raw sample is kept. One table
// of columns (kBenchColumns) drives the Markdown, CSV and JSONL outputs; rows stream out as they finish,
// so Ctrl-C keeps every finished row. Record schema: docs/results.md, `llamascope.bench/1`.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "base/error.h"
#include "engine/forward.h"
#include "engine/model.h"
#include "harness/bench_shard.h"
#include "harness/commands.h"
#include "harness/common.h"
#include "harness/environment.h"
#include "harness/records.h"

namespace llamascope {

// Shared with profile.cpp: where the bundled model lives.
std::string bundled_model_path();

namespace {

using Clock = std::chrono::steady_clock;

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

// The columns of every tabular output; JSONL writes the whole record.
const Column kBenchColumns[] = {
    {"model.name", "/model/name", "model"},
    {"model.file_bytes", "/model/file_bytes", "size", MdStyle::bytes},
    {"model.parameter_count", "/model/parameter_count", "params", MdStyle::count_millions},
    {"model.weight_types", "/model/weight_types", "types"},
    {"kernels", "/kernels", "kernels"},
    {"threads", "/threads", "threads", MdStyle::integer},
    {"test", "/test", "test"},
    {"tokens_per_second", "/tokens_per_second", "t/s", MdStyle::mean_stddev, false},
    {"tokens_per_second.median", "/tokens_per_second/median", ""},
    {"tokens_per_second.mean", "/tokens_per_second/mean", ""},
    {"tokens_per_second.stddev", "/tokens_per_second/stddev", ""},
    {"tokens_per_second.min", "/tokens_per_second/min", ""},
    {"tokens_per_second.max", "/tokens_per_second/max", ""},
    {"tokens_per_second.samples", "/tokens_per_second/samples", ""},
    {"time_to_first_token_ns.median", "/time_to_first_token_ns/median", "ttft ms", MdStyle::millis},
    {"time_per_output_token_ns.median", "/time_per_output_token_ns/median", "ms/token", MdStyle::millis},
    {"bandwidth.fraction", "/bandwidth/fraction", "of BW", MdStyle::percent},
    {"bandwidth.achieved_gbps", "/bandwidth/achieved_gbps", ""},
    {"bandwidth.machine_gbps", "/bandwidth/machine_gbps", ""},
    {"memory.peak_rss_bytes", "/memory/peak_rss_bytes", "peak RSS", MdStyle::bytes},
    {"memory.weight_bytes", "/memory/weight_bytes", ""},
    {"memory.kv_cache_bytes", "/memory/kv_cache_bytes", "KV", MdStyle::bytes},
    {"memory.kv_type", "/memory/kv_type", ""},
    {"n_prompt", "/n_prompt", ""},
    {"n_gen", "/n_gen", ""},
    {"repetitions", "/repetitions", ""},
    {"model.path", "/model/path", ""},
    {"model.sha256", "/model/sha256", ""},
    {"run_id", "/run_id", ""},
    {"repro", "/repro", ""},
};

// ---- Ctrl-C: finish cleanly ----
volatile std::sig_atomic_t g_interrupted = 0;

void on_sigint(int) {
  if (g_interrupted) {  // a second Ctrl-C: stop at once
    std::signal(SIGINT, SIG_DFL);
    std::raise(SIGINT);
  }
  g_interrupted = 1;
}

class SigintGuard {
 public:
  SigintGuard() {
    g_interrupted = 0;
    struct sigaction action {};
    action.sa_handler = on_sigint;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &previous_);
  }
  ~SigintGuard() { sigaction(SIGINT, &previous_, nullptr); }

 private:
  struct sigaction previous_ {};
};

bool interrupted() {
  return g_interrupted != 0;
}

// ---- progress on stderr (terminal only) ----
class Progress {
 public:
  Progress(int total, bool enabled)
      : total_(total), enabled_(enabled && isatty(STDERR_FILENO)), start_(Clock::now()) {}

  // fraction_of_current: how much of configuration `done` is finished (repetitions).
  void show(int done, double fraction_of_current, const std::string& what) {
    if (!enabled_) return;
    const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
    const double finished = done + fraction_of_current;
    const std::string remaining =
        finished > 0.05 ? fmt::format("~{:.0f} s left", elapsed / finished * (total_ - finished))
                        : "estimating";
    std::fprintf(stderr, "\r\033[K[%d/%d] %s | %.1f s elapsed, %s", done + 1, total_, what.c_str(), elapsed,
                 remaining.c_str());
    std::fflush(stderr);
  }
  void clear() {
    if (!enabled_) return;
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
  }

 private:
  int total_;
  bool enabled_;
  Clock::time_point start_;
};

// ---- one repetition ----
struct Sample {
  double timed_ns = 0;  // what tokens/s is computed from
  double ttft_ns = -1;  // prompt (or BOS) eval + choosing the first token; -1 when the test generates nothing
  double decode_ns = 0;  // the n_gen single-token evals (with greedy choice)
  int tokens = 0;
};

int32_t greedy(const std::vector<float>& logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

double ns_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
}

// Runs `test` once from an empty cache. n_gen_limit < n_gen shortens it (warm-up). Returns false when
// interrupted part-way (the sample is then incomplete and dropped).
bool run_test_once(Forward& forward, const BenchTest& test, const std::vector<int32_t>& prompt, int32_t bos,
                   std::vector<float>& logits, Sample& sample, int n_gen_limit) {
  const int n_gen = std::min(test.n_gen, n_gen_limit);
  int64_t pos = 0;
  sample = Sample{};
  const auto t0 = Clock::now();
  if (test.n_prompt > 0) {
    forward.eval(std::span<const int32_t>(prompt.data(), static_cast<size_t>(test.n_prompt)), 0,
                 logits.data());
    pos = test.n_prompt;
  } else {
    forward.eval({&bos, 1}, 0, logits.data());  // tg: the BOS is not part of the timed generation
    pos = 1;
  }
  if (n_gen == 0) {
    sample.timed_ns = ns_since(t0);
    sample.tokens = test.n_prompt;
    return true;
  }
  int32_t next = greedy(logits);
  sample.ttft_ns = ns_since(t0);
  const auto t_gen = Clock::now();
  for (int i = 0; i < n_gen; ++i) {
    if (interrupted()) return false;
    forward.eval({&next, 1}, pos++, logits.data());
    next = greedy(logits);
  }
  sample.decode_ns = ns_since(t_gen);
  sample.timed_ns = test.n_prompt > 0 ? ns_since(t0) : sample.decode_ns;
  sample.tokens = test.n_prompt + n_gen;
  return true;
}

// Bytes a test reads from memory: every weight a pass streams (the token table only for its rows, except
// when it doubles as the output matrix), plus the KV-cache rows attention reads, pass by pass.
double bytes_read(const Model& model, const BenchTest& test, TensorType kv_type) {
  const ModelConfig& c = model.config;
  double weights = static_cast<double>(model.output_norm.bytes() + model.output.bytes());
  for (const LayerWeights& L : model.layers)
    for (const Weight* w : {&L.attn_norm, &L.attn_q, &L.attn_k, &L.attn_v, &L.attn_output, &L.ffn_norm,
                            &L.ffn_gate, &L.ffn_up, &L.ffn_down})
      weights += static_cast<double>(w->bytes());
  // K and V of one position, all layers.
  const double kv_row = 2.0 * c.n_layers * c.kv_dim() * (kv_type == TensorType::F16 ? 2 : 4);
  double total = 0;
  int64_t pos = 0;
  if (test.n_prompt > 0) {
    total += weights + kv_row * test.n_prompt;
    pos = test.n_prompt;
  } else {
    pos = 1;  // the untimed BOS pass
  }
  for (int i = 0; i < test.n_gen; ++i, ++pos) total += weights + kv_row * static_cast<double>(pos + 1);
  return total;
}

std::string repro_line(const std::string& model_path, const std::string& kernels, int threads,
                       const BenchTest& test, const BenchArgs& args) {
  std::string line = fmt::format("{} bench -m {} -k {} -t {}", shell_quote(program_path()),
                                 shell_quote(model_path), shell_quote(kernels), threads);
  if (test.n_prompt > 0 && test.n_gen > 0)
    line += fmt::format(" -p 0 -n 0 --pg {},{}", test.n_prompt, test.n_gen);
  else
    line += fmt::format(" -p {} -n {}", test.n_prompt, test.n_gen);
  if (args.kv_type != "f32") line += " --kv-type " + args.kv_type;
  return line + fmt::format(" -r {} --warmup {} -o jsonl", args.repetitions, args.warmup);
}

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

// `bench --list`: the shard's rows in bench's order: position, model, kernel set, threads, test.
void list_matrix(const std::vector<std::string>& models, const std::vector<std::string>& kernel_sets,
                 const std::vector<int>& threads, const std::vector<BenchTest>& tests,
                 const BenchShard& shard) {
  size_t p = 0;
  for (const std::string& m : models)
    for (const std::string& k : kernel_sets)
      for (int t : threads)
        for (const BenchTest& test : tests)
          if (shard.contains(p++)) fmt::print("{}\t{}\t{}\t{}\t{}\n", p - 1, m, k, t, test.name());
}

void bench(const BenchArgs& args) {
  const OutputFormat format = parse_output_format(args.output);
  if (args.repetitions < 1) throw Error("-r: repetitions must be >= 1");
  if (args.warmup < 0) throw Error("--warmup must be >= 0");
  const std::vector<BenchTest> tests = expand_tests(args);
  std::vector<std::string> models = args.models;
  if (models.empty()) models.push_back(bundled_model_path());
  const std::vector<std::string> kernel_sets =
      KernelSet::split_list(args.kernels.empty() ? default_kernel_set() : args.kernels);
  std::vector<int> threads = args.threads;
  if (threads.empty()) {  // one thread and all of them: the scaling is half of what a bench is for
    threads.push_back(1);
    if (logical_cpus() > 1) threads.push_back(logical_cpus());
  }
  for (int t : threads)
    if (t < 1 || t > 1024) throw Error(fmt::format("-t {}: thread counts must be 1..1024", t));
  for (const std::string& k : kernel_sets)
    if (k.empty()) throw Error("-k: empty kernel set in '" + args.kernels + "'");

  const BenchShard shard = bench_shard_from(args.shard);
  const size_t per_pair = tests.size(), per_model = kernel_sets.size() * threads.size() * per_pair;
  int total = 0;
  for (size_t p = 0; p < models.size() * per_model; ++p) total += shard.contains(p);
  if (args.list) return list_matrix(models, kernel_sets, threads, tests, shard);
  const std::string run_id = new_run_id();
  const MachineLimits limits = machine_limits(args.bandwidth_gbps);
  const nlohmann::json& environment = environment_json();
  int max_context = 0, max_prompt = 1;
  for (const BenchTest& t : tests)
    max_context = std::max(max_context, t.context()), max_prompt = std::max(max_prompt, t.n_prompt);

  SigintGuard sigint;
  Progress progress(total, args.progress);
  std::vector<nlohmann::json> records;
  // stdout streams each row as it finishes; --out gets the chosen format (rewritten atomically after every
  // row) while stdout shows the Markdown table.
  const OutputFormat stdout_format = args.out_file.empty() ? format : OutputFormat::md;
  auto emit_stdout = [&](const std::string& text) {
    progress.clear();
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  };
  if (stdout_format == OutputFormat::md) emit_stdout(format_md_header(kBenchColumns));
  if (stdout_format == OutputFormat::csv)
    emit_stdout(format_records(std::span<const nlohmann::json>(), kBenchColumns, OutputFormat::csv));

  int done = 0;
  size_t position = 0;  // in the whole matrix: a shard runs the positions it contains
  for (const std::string& model_path : models) {
    if (interrupted()) break;
    if (!shard.any(position, position + per_model)) {
      position += per_model;
      continue;
    }
    const std::unique_ptr<Model> model = load_model(model_path);
    const nlohmann::json identity = model_identity(*model);
    const ModelConfig& c = model->config;
    const int32_t bos =
        model->tokenizer && model->tokenizer->vocab().bos >= 0 ? model->tokenizer->vocab().bos : 1;
    // The prompt: BOS, then tokens drawn uniformly from the vocabulary with a fixed seed (as llama-bench).
    std::vector<int32_t> prompt(static_cast<size_t>(max_prompt));
    std::mt19937 rng(1234);
    std::uniform_int_distribution<int32_t> pick(0, c.vocab_size - 1);
    for (int32_t& t : prompt) t = pick(rng);
    prompt[0] = std::min(bos, c.vocab_size - 1);
    std::vector<float> logits(static_cast<size_t>(c.vocab_size));

    for (const std::string& kernel_spec : kernel_sets) {
      for (int n_threads : threads) {
        if (interrupted()) break;
        if (!shard.any(position, position + per_pair)) {
          position += per_pair;
          continue;
        }
        KernelSet kernels(kernel_spec, BackendOptions{n_threads});
        Forward forward(*model, kernels, max_context, max_prompt, kv_type_from_flag(args.kv_type));
        for (const BenchTest& test : tests) {
          if (interrupted()) break;
          const size_t row_position = position++;
          if (!shard.contains(row_position)) continue;
          const std::string what = fmt::format("{} {} t={} {}", identity["name"].get<std::string>(),
                                               kernels.spec(), n_threads, test.name());
          const bool per_row_peak = reset_peak_rss();
          Sample sample;
          for (int w = 0; w < args.warmup && !interrupted(); ++w) {
            progress.show(done, 0, what + " warm-up");
            // The warm-up touches every weight and buffer; a tg warm-up generates one token.
            run_test_once(forward, test, prompt, bos, logits, sample, 1);
          }
          std::vector<double> tps, timed_ns, ttft_ns, tpot_ns;
          for (int r = 0; r < args.repetitions && !interrupted(); ++r) {
            progress.show(done, double(r) / args.repetitions,
                          what + fmt::format(" rep {}/{}", r + 1, args.repetitions));
            if (!run_test_once(forward, test, prompt, bos, logits, sample, test.n_gen)) break;
            tps.push_back(sample.tokens / (sample.timed_ns * 1e-9));
            timed_ns.push_back(sample.timed_ns);
            if (test.n_gen > 0) {
              ttft_ns.push_back(sample.ttft_ns);
              tpot_ns.push_back(sample.decode_ns / test.n_gen);
            }
          }
          if (interrupted()) break;  // a row with missing repetitions is not kept

          const SampleStats tps_stats = summarize(tps);
          const double bytes_per_token =
              bytes_read(*model, test, kv_type_from_flag(args.kv_type)) / (test.n_prompt + test.n_gen);
          const double achieved_gbps = tps_stats.median * bytes_per_token / 1e9;
          nlohmann::json record = {
              {"schema", "llamascope.bench/1"},
              {"run_id", run_id},
              {"index", row_position},
              {"time", utc_now_iso8601()},
              {"test", test.name()},
              {"n_prompt", test.n_prompt},
              {"n_gen", test.n_gen},
              {"kernels", kernels.spec()},
              {"backends", kernels.backend_names()},
              {"backend_descriptions", kernels.descriptions()},
              {"threads", n_threads},
              {"repetitions", args.repetitions},
              {"warmup", args.warmup},
              {"sampling", "greedy"},
              {"model", identity},
              {"tokens_per_second", tps_stats.to_json()},
              {"time_ns", summarize(timed_ns).to_json()},
              {"time_to_first_token_ns",
               test.n_gen > 0 ? summarize(ttft_ns).to_json() : nlohmann::json(nullptr)},
              {"time_per_output_token_ns",
               test.n_gen > 0 ? summarize(tpot_ns).to_json() : nlohmann::json(nullptr)},
              {"memory",
               {{"peak_rss_bytes", peak_rss_bytes()},
                {"peak_rss_scope", per_row_peak ? "row" : "process"},
                {"weight_bytes", model->weight_bytes()},
                {"prepared_bytes", forward.prepared_bytes()},
                {"kv_cache_bytes", forward.kv_cache_bytes()},
                {"kv_type", args.kv_type},
                {"activation_bytes", forward.activation_bytes()},
                {"context", forward.context()}}},
              {"bandwidth",
               {{"bytes_per_token", bytes_per_token},
                {"achieved_gbps", achieved_gbps},
                {"machine_gbps", limits.bandwidth_gbps},
                {"machine_source", limits.bandwidth_source},
                {"fraction", limits.bandwidth_gbps > 0 ? achieved_gbps / limits.bandwidth_gbps : 0.0}}},
              {"environment", environment},
              {"repro", repro_line(model_path, kernel_spec, n_threads, test, args)},
          };
          records.push_back(record);
          ++done;
          if (!args.out_file.empty())
            write_file_atomically(args.out_file, format_records(records, kBenchColumns, format));
          switch (stdout_format) {
            case OutputFormat::md:
              emit_stdout(format_md_row(record, kBenchColumns));
              break;
            case OutputFormat::jsonl:
              emit_stdout(record.dump() + "\n");
              break;
            case OutputFormat::csv: {
              std::string table =
                  format_records(std::span<const nlohmann::json>(&record, 1), kBenchColumns, format);
              emit_stdout(table.substr(table.find('\n') + 1));  // the header went out first
              break;
            }
          }
        }
      }
    }
  }
  progress.clear();
  if (interrupted()) {
    std::fprintf(stderr, "llamascope bench: interrupted; kept %zu of %d records%s\n", records.size(), total,
                 args.out_file.empty() ? "" : (" in " + args.out_file).c_str());
    command_exit_status() = 130;
  }
}

}  // namespace

std::string bundled_model_path() {
  const std::string relative = "golden/models/stories260K-f32.gguf";
  std::vector<std::filesystem::path> candidates = {std::filesystem::path(relative),
                                                   std::filesystem::path(LLAMASCOPE_SOURCE_DIR) / relative};
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec)
    for (std::filesystem::path dir = exe.parent_path(); !dir.empty() && dir != dir.root_path();
         dir = dir.parent_path())
      candidates.push_back(dir / relative);
  for (const auto& candidate : candidates)
    if (std::filesystem::exists(candidate, ec)) return candidate.lexically_normal().string();
  throw Error("the bundled model " + relative + " was not found (looked in the current directory, " +
              LLAMASCOPE_SOURCE_DIR + " and above the executable); give -m MODEL");
}

void register_bench_command(CLI::App& app) {
  auto args = std::make_shared<BenchArgs>();
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
  cmd->callback([args] { bench(*args); });
}

}  // namespace llamascope
