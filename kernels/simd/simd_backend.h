// The SIMD backend: every op on the host with AVX-512, AVX2 or portable kernels chosen at run time, split
// over a persistent thread pool. Numerics contract: the value computed for a (weight row, activation row)
// pair does not depend on the batch size or the thread count.
#pragma once

#include <memory>
#include <string>

#include "kernels/backend.h"

namespace llamascope {

enum class SimdIsa { portable, avx2, avx512 };

const char* simd_isa_name(SimdIsa isa);
// Whether this CPU (and OS) can run the kernels of `isa`.
bool simd_isa_supported(SimdIsa isa);
// The best supported ISA, lowered to LLAMASCOPE_SIMD_ISA (portable|avx2|avx512) when that is set; an
// unknown value there is an Error, a higher ISA than the CPU has is lowered to the best supported one.
SimdIsa simd_isa_selected();

// Whether the backend on `isa` takes BF16 matmul weights through AVX512-BF16 pair dot products on this CPU
// (activations rounded to BF16) rather than float multiply-adds.
bool simd_bf16_dot(SimdIsa isa);

// Whether the backend on `isa` unpacks Q5_K's fifth bits with GFNI on this CPU (AVX-512 only; the results are
// the same bits either way). LLAMASCOPE_SIMD_NO_GFNI (set to anything) turns it off, for A/B runs and tests.
bool simd_gfni(SimdIsa isa);

// F32 matmul weights whose every value is an F16 (or BF16) value are held in 16 bits and give the F32
// kernel's bits (docs/kernels.md, Matmul); LLAMASCOPE_SIMD_KEEP_F32 (set to anything) keeps them F32, for A/B
// runs and tests. The description counts them once weights are prepared.

// A backend on a given ISA (an unsupported one is an Error); for tests that compare the paths.
std::unique_ptr<Backend> create_simd_backend(const BackendOptions& options, SimdIsa isa);

// Registry entry "simd" (uses simd_isa_selected()).
BackendEntry simd_backend_entry();

}  // namespace llamascope
