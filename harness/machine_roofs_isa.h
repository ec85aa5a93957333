// The ISA-specific loops behind `llamascope machine` (machine_roofs_avx2.cpp, machine_roofs_avx512.cpp, each
// compiled for its instruction set): callers check the CPU before calling them.
#pragma once

#include <cstddef>
#include <cstdint>

namespace llamascope::roofs {

// Reads `bytes` (a multiple of 256, 64-byte aligned) at `data` `passes` times with vector loads; the result
// only keeps the loads from being optimised away.
uint64_t read_avx2(const void* data, size_t bytes, int passes);
uint64_t read_avx512(const void* data, size_t bytes, int passes);

// Operations per second of one thread (2 per multiply-add), independent accumulator chains.
double int8_maddubs_avx2(int64_t iterations);  // vpmaddubsw + vpmaddwd + vpaddd, ymm
double int8_vnni_avx512(int64_t iterations);   // vpdpbusd zmm
double bf16_dot_avx512(int64_t iterations);    // vdpbf16ps zmm (needs AVX512_BF16)

}  // namespace llamascope::roofs
