#include "base/huge_buffer.h"

#include <cerrno>
#include <cstring>
#include <string>

#include "base/error.h"

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace llamascope {

namespace {
constexpr size_t kHugePage = size_t(2) << 20;
}

#if defined(__linux__)
void HugeBufferDelete::operator()(uint8_t* p) const {
  if (p) ::munmap(p, bytes);
}

HugeBuffer allocate_huge_buffer(size_t bytes) {
  if (bytes == 0) bytes = 1;
  // Map one huge page more than asked, then give back the head and tail around the aligned part.
  const size_t span = bytes + kHugePage;
  void* raw = ::mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED)
    throw Error("cannot allocate " + std::to_string(bytes) + " bytes: " + std::strerror(errno));
  const uintptr_t start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (start + kHugePage - 1) & ~(kHugePage - 1);
  if (aligned > start) ::munmap(raw, aligned - start);
  const uintptr_t end = aligned + bytes, span_end = start + span;
  const uintptr_t page = 4096, kept_end = (end + page - 1) & ~(page - 1);
  if (span_end > kept_end) ::munmap(reinterpret_cast<void*>(kept_end), span_end - kept_end);
  // Advice only: where THP is off the buffer simply stays in small pages.
  ::madvise(reinterpret_cast<void*>(aligned), bytes, MADV_HUGEPAGE);
  return HugeBuffer(reinterpret_cast<uint8_t*>(aligned), HugeBufferDelete{kept_end - aligned});
}
#else
void HugeBufferDelete::operator()(uint8_t* p) const {
  ::operator delete[](p, std::align_val_t(64));
}

HugeBuffer allocate_huge_buffer(size_t bytes) {
  return HugeBuffer(new (std::align_val_t(64)) uint8_t[bytes == 0 ? 1 : bytes], HugeBufferDelete{bytes});
}
#endif

}  // namespace llamascope
