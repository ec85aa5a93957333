// A read-only memory mapping of a whole file (weights are used in place, never copied).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "base/non_copyable.h"

namespace llamascope {

class MappedFile : NonCopyable {
 public:
  // Throws Error("PATH: ...") when the path is missing, a directory, unreadable or cannot be mapped.
  // An empty file maps to size() == 0, data() == nullptr.
  explicit MappedFile(const std::string& path);
  ~MappedFile();

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

  // Lets the OS drop the resident pages wholly inside [p, p + bytes) (a part of this mapping): for a
  // backend that keeps its own repacked copy, so the file's bytes are not held twice. Contents stay valid:
  // the mapping is private and never written, so a later read faults the page back in from the file.
  void release_pages(const void* p, size_t bytes) const;

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace llamascope
