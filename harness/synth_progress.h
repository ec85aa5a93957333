// Inside `llamascope synth`: progress on stderr while a file is written, removing the temporary file when
// Ctrl-C ends the write, and the sizes and counts as the command prints them.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "harness/progress_line.h"
#include "harness/signals.h"

namespace llamascope::synth {

std::string human_count(int64_t n);  // "15.2M", "1.10B"

// Bytes written so far on stderr: a line redrawn in place on a terminal, else a plain line every 5%.
// Writes that finish within a second print nothing.
class WriteProgress {
 public:
  explicit WriteProgress(uint64_t total);
  void update(uint64_t done, const std::string& tensor);
  void finish();
  double seconds() const { return line_.seconds(); }

 private:
  ProgressLine line_;
  uint64_t total_;
  double last_print_ = 0;
  int last_step_ = 0;
};

// While alive, SIGINT and SIGTERM remove `tmp_path` and end the process (the writer's destructor, which
// would remove it, never runs after a signal).
class RemoveTmpOnSignal {
 public:
  explicit RemoveTmpOnSignal(const std::string& tmp_path);

 private:
  std::optional<ScopedSignalHandler> handler_;  // none when the path is too long to keep
};

}  // namespace llamascope::synth
