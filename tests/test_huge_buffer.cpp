// allocate_huge_buffer: the alignment the kernels rely on, every byte writable and kept, sizes that are not
// multiples of a page, and resident memory no larger than asked for (the tail stays in small pages).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>

#include "base/huge_buffer.h"

namespace llamascope {
namespace {

TEST(HugeBuffer, AlignedWritableAndKept) {
  for (size_t bytes : {size_t(1), size_t(4095), size_t(3) << 20, (size_t(5) << 20) + 12345}) {
    HugeBuffer buffer = allocate_huge_buffer(bytes);
    ASSERT_NE(buffer.get(), nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(buffer.get()) % 64, 0u) << bytes;
    for (size_t i = 0; i < bytes; ++i) buffer[i] = static_cast<uint8_t>(i * 7 + 1);
    size_t wrong = 0;
    for (size_t i = 0; i < bytes; ++i) wrong += buffer[i] != static_cast<uint8_t>(i * 7 + 1);
    EXPECT_EQ(wrong, 0u) << bytes;
  }
}

#if defined(__linux__)
// Resident set of this process in KiB, from /proc/self/status.
long resident_kib() {
  std::ifstream status("/proc/self/status");
  std::string key;
  long value = 0;
  while (status >> key) {
    if (key == "VmRSS:") {
      status >> value;
      return value;
    }
    status.ignore(1 << 12, '\n');
  }
  return -1;
}

TEST(HugeBuffer, ResidentNoLargerThanAsked) {
  const size_t bytes = (size_t(64) << 20) + 4096 * 3;
  const long before = resident_kib();
  HugeBuffer buffer = allocate_huge_buffer(bytes);
  std::memset(buffer.get(), 1, bytes);
  const long grown = resident_kib() - before;
  // Touched in full: at least the bytes asked for, and no whole extra huge page of padding.
  EXPECT_GE(grown, static_cast<long>(bytes / 1024) - 64);
  EXPECT_LT(grown, static_cast<long>(bytes / 1024) + 2048);
}
#endif

}  // namespace
}  // namespace llamascope
