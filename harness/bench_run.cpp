// `llamascope bench`: the timing loop. Each test runs after a warm-up, -r times, and every raw sample is
// kept; rows stream out as they finish, so Ctrl-C keeps every finished row.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "engine/sampler.h"
#include "harness/bench.h"
#include "harness/commands.h"
#include "harness/common.h"
#include "harness/model_inputs.h"

namespace llamascope::bench {

namespace {

using Clock = std::chrono::steady_clock;

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
  int32_t next = argmax(logits);
  sample.ttft_ns = ns_since(t0);
  const auto t_gen = Clock::now();
  for (int i = 0; i < n_gen; ++i) {
    if (interrupted()) return false;
    forward.eval({&next, 1}, pos++, logits.data());
    next = argmax(logits);
  }
  sample.decode_ns = ns_since(t_gen);
  sample.timed_ns = test.n_prompt > 0 ? ns_since(t0) : sample.decode_ns;
  sample.tokens = test.n_prompt + n_gen;
  return true;
}

// Runs the whole matrix in order, keeping count of the position so a shard skips what is not its own.
class MatrixRun {
 public:
  MatrixRun(const BenchArgs& args, const Matrix& matrix)
      : args_(args),
        matrix_(matrix),
        total_(matrix.rows_in_shard()),
        run_id_(new_run_id()),
        limits_(machine_limits(args.bandwidth_gbps)),
        environment_(environment_json()),
        progress_(total_, args.progress),
        outputs_(args, [this] { progress_.clear(); }) {
    for (const BenchTest& t : matrix.tests)
      max_context_ = std::max(max_context_, t.context()), max_prompt_ = std::max(max_prompt_, t.n_prompt);
  }

  void run() {
    for (const std::string& model_path : matrix_.models) {
      if (interrupted()) break;
      if (!matrix_.shard.any(position_, position_ + matrix_.per_model())) {
        position_ += matrix_.per_model();
        continue;
      }
      run_model(model_path);
    }
    progress_.clear();
    if (interrupted()) {
      std::fprintf(stderr, "llamascope bench: interrupted; kept %zu of %d records%s\n", outputs_.count(),
                   total_, args_.out_file.empty() ? "" : (" in " + args_.out_file).c_str());
      command_exit_status() = 130;
    }
  }

 private:
  void run_model(const std::string& model_path) {
    const std::unique_ptr<Model> model = load_model(model_path);
    const nlohmann::json identity = model_identity(*model);
    const ModelConfig& c = model->config;
    const int32_t bos =
        model->tokenizer && model->tokenizer->vocab().bos >= 0 ? model->tokenizer->vocab().bos : 1;
    const std::vector<int32_t> prompt = random_prompt(*model, max_prompt_);
    std::vector<float> logits(static_cast<size_t>(c.vocab_size));

    for (const std::string& kernel_spec : matrix_.kernel_sets) {
      for (int n_threads : matrix_.threads) {
        if (interrupted()) break;
        if (!matrix_.shard.any(position_, position_ + matrix_.per_pair())) {
          position_ += matrix_.per_pair();
          continue;
        }
        KernelSet kernels(kernel_spec, BackendOptions{n_threads});
        Forward forward(*model, kernels, max_context_, max_prompt_, kv_type_from_flag(args_.kv_type));
        const RowContext row{args_,    run_id_,     limits_, environment_, model_path, *model,
                             identity, kernel_spec, kernels, forward,      n_threads};
        for (const BenchTest& test : matrix_.tests) {
          if (interrupted()) break;
          const size_t row_position = position_++;
          if (!matrix_.shard.contains(row_position)) continue;
          run_row(row, forward, test, row_position, prompt, bos, logits);
        }
      }
    }
  }

  // Warm-up, then the repetitions; a row with missing repetitions is not kept.
  void run_row(const RowContext& row, Forward& forward, const BenchTest& test, size_t row_position,
               const std::vector<int32_t>& prompt, int32_t bos, std::vector<float>& logits) {
    const std::string what = fmt::format("{} {} t={} {}", row.identity["name"].get<std::string>(),
                                         row.kernels.spec(), row.n_threads, test.name());
    const bool per_row_peak = reset_peak_rss();
    Sample sample;
    for (int w = 0; w < args_.warmup && !interrupted(); ++w) {
      progress_.show(done_, 0, what + " warm-up");
      // The warm-up touches every weight and buffer; a tg warm-up generates one token.
      run_test_once(forward, test, prompt, bos, logits, sample, 1);
    }
    RowTimes times;
    for (int r = 0; r < args_.repetitions && !interrupted(); ++r) {
      progress_.show(done_, double(r) / args_.repetitions,
                     what + fmt::format(" rep {}/{}", r + 1, args_.repetitions));
      if (!run_test_once(forward, test, prompt, bos, logits, sample, test.n_gen)) break;
      times.tps.push_back(sample.tokens / (sample.timed_ns * 1e-9));
      times.timed_ns.push_back(sample.timed_ns);
      if (test.n_gen > 0) {
        times.ttft_ns.push_back(sample.ttft_ns);
        times.tpot_ns.push_back(sample.decode_ns / test.n_gen);
      }
    }
    if (interrupted()) return;
    outputs_.add(bench_record(row, test, row_position, times, per_row_peak));
    ++done_;
  }

  const BenchArgs& args_;
  const Matrix& matrix_;
  const int total_;
  const std::string run_id_;
  const MachineLimits limits_;
  const nlohmann::json& environment_;
  int max_context_ = 0, max_prompt_ = 1;
  SigintGuard sigint_;
  Progress progress_;
  RowOutputs outputs_;
  int done_ = 0;
  size_t position_ = 0;  // in the whole matrix: a shard runs the positions it contains
};

}  // namespace

void run_matrix(const BenchArgs& args, const Matrix& matrix) {
  MatrixRun(args, matrix).run();
}

}  // namespace llamascope::bench
