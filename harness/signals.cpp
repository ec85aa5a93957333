#include "harness/signals.h"

namespace llamascope {

ScopedSignalHandler::ScopedSignalHandler(void (*handler)(int), std::initializer_list<int> signals) {
  struct sigaction action {};
  action.sa_handler = handler;
  sigemptyset(&action.sa_mask);
  for (int sig : signals) {
    struct sigaction previous {};
    if (sigaction(sig, &action, &previous) == 0) previous_.emplace_back(sig, previous);
  }
}

ScopedSignalHandler::~ScopedSignalHandler() {
  for (const auto& [sig, previous] : previous_) sigaction(sig, &previous, nullptr);
}

}  // namespace llamascope
