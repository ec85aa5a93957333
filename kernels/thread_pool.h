// A persistent pool of worker threads for the SIMD backend's ops. An op of a small model takes a few
// microseconds, so dispatch must cost far less: workers spin briefly on a generation counter before they
// sleep, the calling thread takes tasks too, and a pool of one thread runs everything inline.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "base/non_copyable.h"

namespace llamascope {

class ThreadPool;

// The process's pool of `threads` threads, shared by every backend that asks while one holds it: two
// kernel sets in one process (an in-process A/B) then run on the same worker threads, so neither gets the
// better placement of its workers. Their ops must not run at the same time (they never do: a forward
// runs its ops one after another, and the A/B runs the sets in turns on one thread).
std::shared_ptr<ThreadPool> shared_thread_pool(int threads);

class ThreadPool : NonCopyable {
 public:
  // `threads` counts the calling thread: threads - 1 workers are started (none for threads <= 1).
  explicit ThreadPool(int threads);
  ~ThreadPool();

  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Sends the idle workers to sleep now instead of after their spin: the next run pays their wake-up.
  void rest() { resting_.store(true, std::memory_order_relaxed); }

  // Calls fn(task) once for every task in [0, n_tasks), spread over the threads, and returns when all have
  // finished. Tasks are claimed one at a time from a shared counter, so uneven tasks balance themselves.
  // fn must not throw. Not reentrant: one run at a time, from one thread.
  template <typename Fn>
  void run(int64_t n_tasks, Fn&& fn) {
    if (n_tasks <= 0) return;
    if (workers_.empty() || n_tasks == 1) {
      for (int64_t t = 0; t < n_tasks; ++t) fn(t);
      return;
    }
    dispatch(n_tasks, &fn, [](void* context, int64_t task) {
      (*static_cast<std::remove_reference_t<Fn>*>(context))(task);
    });
  }

 private:
  using Trampoline = void (*)(void* context, int64_t task);
  void dispatch(int64_t n_tasks, void* context, Trampoline call);
  void work_loop();
  void take_tasks();

  std::vector<std::thread> workers_;
  // The job. `generation_` is odd while the caller rewrites it and even once it is published; a worker
  // registers in `active_workers_` and then re-checks the generation before it reads the job, and the
  // caller waits for no registered worker before it rewrites the job (seq_cst on both sides), so a worker
  // waking late never reads a half-written job. The caller waits for tasks, not for workers: a worker
  // that is descheduled before it claims a task does not hold the run up.
  void* context_ = nullptr;
  Trampoline call_ = nullptr;
  int64_t n_tasks_ = 0;
  alignas(64) std::atomic<int64_t> next_task_{0};
  alignas(64) std::atomic<int64_t> done_tasks_{0};
  alignas(64) std::atomic<uint64_t> generation_{0};
  alignas(64) std::atomic<int> active_workers_{0};
  alignas(64) std::atomic<int> sleeping_workers_{0};
  std::atomic<bool> stop_{false};
  std::atomic<bool> resting_{false};
};

}  // namespace llamascope
