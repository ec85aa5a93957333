// The one exception type llamascope throws for bad input (files, flags, data). The CLI turns it into a
// single "llamascope: error: ..." line and a non-zero exit; nothing in the engine calls exit().
#pragma once

#include <stdexcept>
#include <string>

namespace llamascope {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace llamascope
