// What every fuzz target shares: the bytes as a file a path-taking reader can open (an in-memory file, no
// disk), a private scratch folder, and the contract that bad input may only end in llamascope::Error. Any
// other exception, a crash, a sanitizer report, a leak or a hang is a bug the fuzzer reports.
//
// A target is one file, tests/fuzz/fuzz_NAME.cpp, defining LLVMFuzzerTestOneInput; its seeds live in
// tests/fuzz/corpus/NAME/ and inputs that once failed in tests/fuzz/regressions/NAME/ (both replayed by
// CTest in every build, see tests/fuzz/CMakeLists.txt).
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>

#include "base/error.h"
#include "base/non_copyable.h"

namespace llamascope::fuzz {

// The input as an anonymous in-memory file, reachable by path (/proc/self/fd/N) for readers that open and
// memory-map paths.
class MemoryFile : NonCopyable {
 public:
  MemoryFile(const uint8_t* data, size_t size) : fd_(memfd_create("fuzz-input", 0)) {
    if (fd_ < 0) std::abort();
    for (size_t done = 0; done < size;) {
      const ssize_t n = ::write(fd_, data + done, size - done);
      if (n <= 0) std::abort();
      done += static_cast<size_t>(n);
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~MemoryFile() { ::close(fd_); }
  const std::string& path() const { return path_; }

 private:
  int fd_;
  std::string path_;
};

// A folder of this process's own, made once and removed at exit (readers that take a directory). The path
// is never destroyed: the exit handler runs after static destructors would have freed it.
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path* const dir = [] {
    const auto* d = new std::filesystem::path(std::filesystem::temp_directory_path() /
                                              ("llamascope-fuzz-" + std::to_string(::getpid())));
    std::filesystem::create_directories(*d);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(scratch_dir(), ec);
    });
    return d;
  }();
  return *dir;
}

inline void write_file(const std::filesystem::path& path, const uint8_t* data, size_t size) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!out) std::abort();
}

// Runs one read of untrusted bytes: llamascope::Error is the documented answer to bad input; anything else
// escapes to libFuzzer as a crash.
template <class F>
void expect_only_errors(F&& read) {
  try {
    read();
  } catch (const Error&) {
  }
}

// The bundled data the targets load once (a vocabulary to tokenize with).
inline std::string golden_path(const std::string& relative) {
  return std::string(LLAMASCOPE_GOLDEN_DIR) + "/" + relative;
}

}  // namespace llamascope::fuzz
