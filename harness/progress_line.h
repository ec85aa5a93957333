// The status line long commands (bench, synth, golden kld) keep on stderr: redrawn in place while stderr is a
// terminal and erased or kept when the work ends; off a terminal, nothing unless the caller asks for
// whole lines (synth prints one every 5 %).
#pragma once

#include <chrono>
#include <string>

namespace llamascope {

class ProgressLine {
 public:
  ProgressLine();
  bool on_terminal() const { return tty_; }
  double seconds() const;  // since construction
  // Seconds still to go at the rate so far, `done` of `total` being finished (0 before anything is).
  double seconds_left(double done, double total) const;
  // On a terminal: `text` replaces the line. Elsewhere: `text` as a line of its own if `lines_off_terminal`.
  void show(const std::string& text, bool lines_off_terminal = false);
  void clear();  // erases the line (terminal only, if one was shown)
  void keep();   // ends the line, leaving it on screen (terminal only, if one was shown)

 private:
  bool tty_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace llamascope
