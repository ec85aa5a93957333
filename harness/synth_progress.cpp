#include "harness/synth_progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "harness/common.h"

namespace llamascope::synth {

std::string human_count(int64_t n) {
  const double c = static_cast<double>(n);
  return c >= 1e9 ? fmt::format("{:.2f}B", c / 1e9) : fmt::format("{:.1f}M", c / 1e6);
}

WriteProgress::WriteProgress(uint64_t total) : total_(total) {}

void WriteProgress::update(uint64_t done, const std::string& tensor) {
  const double elapsed = seconds();
  if (elapsed < 1.0) return;
  const int step = static_cast<int>(100.0 * static_cast<double>(done) / static_cast<double>(total_)) / 5;
  if (line_.on_terminal() ? elapsed - last_print_ < 0.25 : step <= last_step_) return;
  last_step_ = step;
  last_print_ = elapsed;
  const double pct = 100.0 * static_cast<double>(done) / static_cast<double>(total_);
  line_.show(fmt::format("synth: {:5.1f}% {} / {}, {:.0f} s elapsed, ~{:.0f} s left ({})", pct,
                         format_bytes(static_cast<double>(done), 1),
                         format_bytes(static_cast<double>(total_), 1), elapsed,
                         line_.seconds_left(static_cast<double>(done), static_cast<double>(total_)), tensor),
             /*lines_off_terminal=*/true);
}

void WriteProgress::finish() {
  line_.clear();
}

namespace {

// The signal handler may only call async-signal-safe functions (unlink, _exit), so the path waits in a
// plain buffer.
char g_tmp_path[4096];

extern "C" void remove_tmp_and_exit(int sig) {
  ::unlink(g_tmp_path);
  ::_exit(128 + sig);
}

}  // namespace

RemoveTmpOnSignal::RemoveTmpOnSignal(const std::string& tmp_path) {
  if (tmp_path.size() >= sizeof g_tmp_path) return;
  std::memcpy(g_tmp_path, tmp_path.c_str(), tmp_path.size() + 1);
  handler_.emplace(remove_tmp_and_exit, std::initializer_list<int>{SIGINT, SIGTERM});
}

}  // namespace llamascope::synth
