// cuBLAS, loaded with dlopen the first time the CUDA backend needs it. Linking it instead costs every
// llamascope process about 0.3 s at start-up (cuBLAS's static constructors, measured on the build machine
// with an empty program), CPU-only commands included, and makes the binary refuse to start where cuBLAS is
// absent; loaded lazily, a missing cuBLAS is just a reason `cuda` is unavailable.
#include "kernels/cuda/cublas_loader.h"

#include <dlfcn.h>

#include <mutex>
#include <string>

namespace llamascope::cuda {
namespace {

struct Loaded {
  CublasApi api{};
  std::string why;  // empty when loaded
};

const Loaded& load() {
  static const Loaded loaded = [] {
    Loaded l;
    const std::string name = "libcublas.so." + std::to_string(CUBLAS_VER_MAJOR);
    void* lib = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      const char* err = dlerror();
      l.why = "cuBLAS not found (" + (err ? std::string(err) : name) + ")";
      return l;
    }
    auto sym = [&](auto& fn, const char* symbol) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, symbol));
      if (!fn && l.why.empty()) l.why = name + " lacks " + symbol;
    };
    sym(l.api.create, "cublasCreate_v2");
    sym(l.api.destroy, "cublasDestroy_v2");
    sym(l.api.set_stream, "cublasSetStream_v2");
    sym(l.api.set_math_mode, "cublasSetMathMode");
    sym(l.api.set_workspace, "cublasSetWorkspace_v2");
    sym(l.api.sgemm, "cublasSgemm_v2");
    sym(l.api.gemm_ex, "cublasGemmEx");
    sym(l.api.status_string, "cublasGetStatusString");
    return l;  // the library stays loaded for the life of the process
  }();
  return loaded;
}

}  // namespace

std::string cublas_unavailable_reason() {
  return load().why;
}

const CublasApi& cublas() {
  const Loaded& l = load();
  if (!l.why.empty()) throw Error("cuda: " + l.why);
  return l.api;
}

}  // namespace llamascope::cuda
