// Large, long-lived buffers (repacked weights) backed by transparent huge pages where the kernel allows it.
// Streaming a multi-gigabyte weight copy through 4 KiB pages costs a TLB miss every 4 KiB; with 2 MiB pages
// decode reads the same bytes with far fewer page walks. The buffer is 2 MiB aligned and asks for huge pages
// with madvise (the usual THP setting is "madvise"); its tail beyond the last whole 2 MiB stays in small
// pages, so resident memory is the size asked for, not a multiple of 2 MiB.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace llamascope {

struct HugeBufferDelete {
  size_t bytes = 0;
  void operator()(uint8_t* p) const;
};
using HugeBuffer = std::unique_ptr<uint8_t[], HugeBufferDelete>;

// `bytes` of uninitialized, 64-byte (at least) aligned memory; throws Error when the system has none.
HugeBuffer allocate_huge_buffer(size_t bytes);

}  // namespace llamascope
