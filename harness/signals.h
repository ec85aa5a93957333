// Ctrl-C (and SIGTERM) handling for the commands, in one place: a handler installed for a scope and the
// previous handlers put back when it ends (bench finishes its row on the first Ctrl-C; synth removes its
// temporary file).
#pragma once

#include <signal.h>

#include <initializer_list>
#include <utility>
#include <vector>

#include "base/non_copyable.h"

namespace llamascope {

class ScopedSignalHandler : NonCopyable {
 public:
  // Installs `handler` (async-signal-safe code only) for each of `signals`.
  ScopedSignalHandler(void (*handler)(int), std::initializer_list<int> signals);
  ~ScopedSignalHandler();

 private:
  std::vector<std::pair<int, struct sigaction>> previous_;  // the signals installed, with what they had
};

}  // namespace llamascope
