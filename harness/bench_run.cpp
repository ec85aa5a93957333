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
#include "harness/progress_line.h"
#include "harness/signals.h"

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

// While alive: the first Ctrl-C asks the run to finish its row, a second one stops at once.
struct SigintGuard {
  SigintGuard() { g_interrupted = 0; }
  ScopedSignalHandler handler{on_sigint, {SIGINT}};
};

}  // namespace

void add_sample(RowTimes& times, const BenchTest& test, const Sample& sample) {
  times.tps.push_back(sample.tokens / (sample.timed_ns * 1e-9));
  times.timed_ns.push_back(sample.timed_ns);
  if (test.n_gen > 0) {
    times.ttft_ns.push_back(sample.ttft_ns);
    times.tpot_ns.push_back(sample.decode_ns / test.n_gen);
  }
}

bool interrupted() {
  return g_interrupted != 0;
}

namespace {

// ---- progress on stderr (terminal only) ----
class Progress {
 public:
  Progress(int total, bool enabled) : total_(total), enabled_(enabled && line_.on_terminal()) {}

  // fraction_of_current: how much of configuration `done` is finished (repetitions).
  void show(int done, double fraction_of_current, const std::string& what) {
    if (!enabled_) return;
    const double finished = done + fraction_of_current;
    const std::string remaining =
        finished > 0.05 ? fmt::format("~{:.0f} s left", line_.seconds_left(finished, total_)) : "estimating";
    line_.show(
        fmt::format("[{}/{}] {} | {:.1f} s elapsed, {}", done + 1, total_, what, line_.seconds(), remaining));
  }
  void clear() { line_.clear(); }

 private:
  ProgressLine line_;
  int total_;
  bool enabled_;
};

// ---- one repetition ----
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
        limits_(machine_bandwidth_limit(args.bandwidth_gbps)),
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
      if (args_.ab.enabled())
        run_ab_model(model_path);
      else
        run_model(model_path);
    }
    progress_.clear();
    if (!ab_lines_.empty() && outputs_.markdown_stdout())
      fmt::print(
          "\n| A | B | threads | test | speed-up of B over A | 95% CI | step pairs |\n"
          "| --- | --- | ---: | --- | ---: | --- | ---: |\n{}",
          fmt::join(ab_lines_, ""));
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
    const int32_t bos = bos_token(*model);
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

  // --ab A --vs B: both sets on this model, each test stepped in turns (bench_ab.cpp). The repetitions come
  // in two halves, the sets prepared in the order A, B for the first and B, A for the second: a copy of
  // the weights prepared later can stream faster (docs/ab.md), and the crossover gives each side each place.
  void run_ab_model(const std::string& model_path) {
    const std::unique_ptr<Model> model = load_model(model_path);
    const nlohmann::json identity = model_identity(*model);
    const int32_t bos = bos_token(*model);
    const std::vector<int32_t> prompt = random_prompt(*model, max_prompt_);
    std::vector<float> logits[2] = {std::vector<float>(static_cast<size_t>(model->config.vocab_size)),
                                    std::vector<float>(static_cast<size_t>(model->config.vocab_size))};
    const size_t base = position_, per_set = matrix_.threads.size() * matrix_.tests.size();
    position_ += matrix_.per_model();
    size_t index = 0;
    for (int n_threads : matrix_.threads) {
      std::vector<AbRow> rows(matrix_.tests.size());
      for (int half = 0; half < 2 && !interrupted(); ++half) {
        AbSets sets(*model, args_.ab, n_threads, /*b_first=*/half == 1, max_context_, max_prompt_,
                    kv_type_from_flag(args_.kv_type));
        const int reps = half == 0 ? (args_.repetitions + 1) / 2 : args_.repetitions / 2;
        for (size_t t = 0; t < matrix_.tests.size() && !interrupted(); ++t) {
          const BenchTest& test = matrix_.tests[t];
          const std::string what =
              fmt::format("{} A/B t={} {} (order {})", identity["name"].get<std::string>(), n_threads,
                          test.name(), half == 0 ? "A, B" : "B, A");
          Sample samples[2];
          for (int w = 0; w < args_.warmup && !interrupted(); ++w) {
            progress_.show(done_, 0, what + " warm-up");
            for (int side = 0; side < 2; ++side)
              run_test_once(*sets.forward[side], test, prompt, bos, logits[side], samples[side], 1);
          }
          for (int r = 0; r < reps && !interrupted(); ++r) {
            progress_.show(done_, 0.5 * half + 0.5 * r / reps, what + fmt::format(" rep {}/{}", r + 1, reps));
            if (!rows[t].add_repetition(sets, test, prompt, bos, logits)) break;
          }
          if (half == 1 && !interrupted())
            emit_ab_row(rows[t], sets, model_path, *model, identity, test, n_threads,
                        {base + index + t, base + per_set + index + t});
        }
      }
      index += matrix_.tests.size();
    }
  }

  void emit_ab_row(const AbRow& row, const AbSets& sets, const std::string& model_path, const Model& model,
                   const nlohmann::json& identity, const BenchTest& test, int n_threads,
                   std::pair<size_t, size_t> positions) {
    const Speedup speedup = speedup_b_over_a(row.step_ns[0], row.step_ns[1]);
    for (int side = 0; side < 2; ++side) {
      const RowContext context{args_,           run_id_,
                               limits_,         environment_,
                               model_path,      model,
                               identity,        side == 0 ? args_.ab.a : args_.ab.b,
                               *sets.set[side], *sets.forward[side],
                               n_threads};
      nlohmann::json record = bench_record(context, test, side == 0 ? positions.first : positions.second,
                                           row.times[side], /*per_row_peak=*/false);
      record["ab"] = {{"role", side == 0 ? "A" : "B"}, {"a", args_.ab.a}, {"b", args_.ab.b}};
      record["speedup"] = speedup.to_json();
      outputs_.add(std::move(record));
    }
    ab_lines_.push_back(fmt::format("| {} | {} | {} | {} | {:.3f}x | {:.3f}x .. {:.3f}x | {} |\n", args_.ab.a,
                                    args_.ab.b, n_threads, test.name(), speedup.median, speedup.ci_low,
                                    speedup.ci_high, speedup.pairs));
    done_ += 2;
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
      add_sample(times, test, sample);
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
  std::vector<std::string> ab_lines_;  // the speed-up table printed after a Markdown A/B run
  size_t position_ = 0;                // in the whole matrix: a shard runs the positions it contains
};

}  // namespace

void run_matrix(const BenchArgs& args, const Matrix& matrix) {
  MatrixRun(args, matrix).run();
}

}  // namespace llamascope::bench
