// The columns of a bench record (llamascope.bench/1) that every table of bench records shows: `bench`'s own
// output and `history show`. Defined once so that a field has the same header and style in both.
#pragma once

#include "harness/records.h"

namespace llamascope::bench_columns {

inline constexpr Column kModel{"model.name", "model"};
inline constexpr Column kKernels{"kernels", "kernels"};
inline constexpr Column kThreads{"threads", "threads", MdStyle::integer};
inline constexpr Column kTest{"test", "test"};

}  // namespace llamascope::bench_columns
