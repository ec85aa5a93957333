// The base of classes that own something a copy would free twice or share by accident (a mapping, a file
// descriptor, device memory, threads): deriving from NonCopyable deletes copying and assignment.
#pragma once

namespace llamascope {

class NonCopyable {
 public:
  NonCopyable(const NonCopyable&) = delete;
  NonCopyable& operator=(const NonCopyable&) = delete;

 protected:
  NonCopyable() = default;
  ~NonCopyable() = default;
};

}  // namespace llamascope
