#include "harness/progress_line.h"

#include <unistd.h>

#include <cstdio>

namespace llamascope {

ProgressLine::ProgressLine() : tty_(isatty(STDERR_FILENO) != 0) {}

double ProgressLine::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

double ProgressLine::seconds_left(double done, double total) const {
  return done > 0 ? seconds() * (total - done) / done : 0;
}

void ProgressLine::show(const std::string& text, bool lines_off_terminal) {
  if (tty_)
    std::fprintf(stderr, "\r\033[K%s", text.c_str());
  else if (lines_off_terminal)
    std::fprintf(stderr, "%s\n", text.c_str());
  else
    return;
  std::fflush(stderr);
  shown_ = true;
}

void ProgressLine::clear() {
  if (!tty_ || !shown_) return;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
  shown_ = false;
}

void ProgressLine::keep() {
  if (!tty_ || !shown_) return;
  std::fprintf(stderr, "\n");
  shown_ = false;
}

}  // namespace llamascope
