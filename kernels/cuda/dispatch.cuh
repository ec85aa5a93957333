// Compile-time dispatch from a runtime TensorType to the kernels instantiated for it: every .cu file that
// launches per-type kernels goes through with_weight_type, so the list of types with device kernels is
// written once. `f` is called with std::integral_constant<TensorType, T> (C++17: CMake 3.25 cannot ask
// nvcc for C++20), so inside it `decltype(t)::value` is a constant.
#pragma once

#include <string>
#include <type_traits>

#include "base/error.h"
#include "base/tensor_type.h"

namespace llamascope::cuda {

template <class F>
decltype(auto) with_weight_type(TensorType type, F&& f) {
  switch (type) {
    case TensorType::F32:
      return f(std::integral_constant<TensorType, TensorType::F32>{});
    case TensorType::F16:
      return f(std::integral_constant<TensorType, TensorType::F16>{});
    case TensorType::BF16:
      return f(std::integral_constant<TensorType, TensorType::BF16>{});
    case TensorType::Q4_0:
      return f(std::integral_constant<TensorType, TensorType::Q4_0>{});
    case TensorType::Q4_1:
      return f(std::integral_constant<TensorType, TensorType::Q4_1>{});
    case TensorType::Q5_0:
      return f(std::integral_constant<TensorType, TensorType::Q5_0>{});
    case TensorType::Q5_1:
      return f(std::integral_constant<TensorType, TensorType::Q5_1>{});
    case TensorType::Q8_0:
      return f(std::integral_constant<TensorType, TensorType::Q8_0>{});
    case TensorType::Q2_K:
      return f(std::integral_constant<TensorType, TensorType::Q2_K>{});
    case TensorType::Q3_K:
      return f(std::integral_constant<TensorType, TensorType::Q3_K>{});
    case TensorType::Q4_K:
      return f(std::integral_constant<TensorType, TensorType::Q4_K>{});
    case TensorType::Q5_K:
      return f(std::integral_constant<TensorType, TensorType::Q5_K>{});
    case TensorType::Q6_K:
      return f(std::integral_constant<TensorType, TensorType::Q6_K>{});
    default:
      break;
  }
  throw Error(std::string("cuda: no kernels for weight type ") + type_name(type));
}

}  // namespace llamascope::cuda
