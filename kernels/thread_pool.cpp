#include "kernels/thread_pool.h"

#include <chrono>
#include <map>
#include <mutex>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define LLAMASCOPE_CPU_RELAX() _mm_pause()
#else
#define LLAMASCOPE_CPU_RELAX() ((void)0)
#endif

namespace llamascope {
namespace {

// How long an idle worker spins before it sleeps. Ops of a forward pass follow each other within
// microseconds, so a worker that spins this long almost never pays the futex wake-up (tens of us).
constexpr auto kSpinBeforeSleep = std::chrono::microseconds(200);

// Spins briefly, then yields: on a busy machine the thread we wait for may need this very core.
template <typename Done>
void wait_until(Done done) {
  for (int i = 0; !done(); ++i) {
    if (i < 4096)
      LLAMASCOPE_CPU_RELAX();
    else
      std::this_thread::yield();
  }
}

}  // namespace

std::shared_ptr<ThreadPool> shared_thread_pool(int threads) {
  static std::mutex mutex;
  static std::map<int, std::weak_ptr<ThreadPool>> pools;
  const std::lock_guard<std::mutex> lock(mutex);
  std::shared_ptr<ThreadPool> pool = pools[threads].lock();
  if (!pool) pools[threads] = pool = std::make_shared<ThreadPool>(threads);
  return pool;
}

ThreadPool::ThreadPool(int threads) {
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { work_loop(); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_seq_cst);
  generation_.fetch_add(2, std::memory_order_seq_cst);
  generation_.notify_all();
  for (std::thread& worker : workers_) worker.join();
}

void ThreadPool::take_tasks() {
  for (;;) {
    const int64_t task = next_task_.fetch_add(1, std::memory_order_relaxed);
    if (task >= n_tasks_) return;
    call_(context_, task);
    done_tasks_.fetch_add(1, std::memory_order_release);
  }
}

void ThreadPool::dispatch(int64_t n_tasks, void* context, Trampoline call) {
  generation_.fetch_add(1, std::memory_order_seq_cst);  // odd: the job is being rewritten
  resting_.store(false, std::memory_order_relaxed);
  wait_until([&] { return active_workers_.load(std::memory_order_seq_cst) == 0; });
  context_ = context;
  call_ = call;
  n_tasks_ = n_tasks;
  next_task_.store(0, std::memory_order_relaxed);
  done_tasks_.store(0, std::memory_order_relaxed);
  // Even again: published. seq_cst pairs with the workers' increment of sleeping_workers_ before they
  // wait: either we see a sleeper and notify, or the sleeper sees the new generation and does not block.
  generation_.fetch_add(1, std::memory_order_seq_cst);
  if (sleeping_workers_.load(std::memory_order_seq_cst) > 0) generation_.notify_all();

  take_tasks();
  wait_until([&] { return done_tasks_.load(std::memory_order_acquire) >= n_tasks; });
}

void ThreadPool::work_loop() {
  // Not the current value: a worker that starts late must still see the runs published before it ran.
  uint64_t seen = 0;
  for (;;) {
    // Wait for a new published (even) generation: spin, then sleep.
    uint64_t now = generation_.load(std::memory_order_acquire);
    const auto spin_until = std::chrono::steady_clock::now() + kSpinBeforeSleep;
    for (int i = 0; now == seen || (now & 1); ++i) {
      LLAMASCOPE_CPU_RELAX();
      if ((i & 63) == 63 &&
          (resting_.load(std::memory_order_relaxed) || std::chrono::steady_clock::now() > spin_until)) {
        sleeping_workers_.fetch_add(1, std::memory_order_seq_cst);
        generation_.wait(now, std::memory_order_seq_cst);
        sleeping_workers_.fetch_sub(1, std::memory_order_seq_cst);
      }
      now = generation_.load(std::memory_order_acquire);
    }
    seen = now;
    if (stop_.load(std::memory_order_acquire)) return;
    active_workers_.fetch_add(1, std::memory_order_seq_cst);
    if (generation_.load(std::memory_order_seq_cst) == now) take_tasks();
    active_workers_.fetch_sub(1, std::memory_order_release);
  }
}

}  // namespace llamascope
