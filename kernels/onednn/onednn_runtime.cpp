#include "kernels/onednn/onednn_runtime.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>

namespace llamascope {
namespace {

void point_opencl_at_prefix() {
#ifdef LLAMASCOPE_ONEDNN_OPENCL_CPU
  static std::once_flag once;
  std::call_once(once, [] {
    if (std::getenv("OCL_ICD_FILENAMES") == nullptr && access(LLAMASCOPE_ONEDNN_OPENCL_CPU, R_OK) == 0)
      setenv("OCL_ICD_FILENAMES", LLAMASCOPE_ONEDNN_OPENCL_CPU, 0);
  });
#endif
}

const char* runtime_name() {
  switch (dnnl_version()->cpu_runtime) {
    case DNNL_RUNTIME_SEQ:
      return "sequential";
    case DNNL_RUNTIME_OMP:
      return "OpenMP";
    case DNNL_RUNTIME_TBB:
      return "TBB";
    case DNNL_RUNTIME_THREADPOOL:
      return "threadpool";
    case DNNL_RUNTIME_SYCL:
      return "SYCL";
    default:
      return "unknown";
  }
}

const char* isa_name(dnnl::cpu_isa isa) {
  using dnnl::cpu_isa;
  switch (isa) {
    case cpu_isa::sse41:
      return "sse41";
    case cpu_isa::avx:
      return "avx";
    case cpu_isa::avx2:
      return "avx2";
    case cpu_isa::avx2_vnni:
      return "avx2_vnni";
    case cpu_isa::avx2_vnni_2:
      return "avx2_vnni_2";
    case cpu_isa::avx512_core:
      return "avx512_core";
    case cpu_isa::avx512_core_vnni:
      return "avx512_core_vnni";
    case cpu_isa::avx512_core_bf16:
      return "avx512_core_bf16";
    default:
      return "other";
  }
}

}  // namespace

dnnl::engine onednn_cpu_engine() {
  point_opencl_at_prefix();
  return dnnl::engine(dnnl::engine::kind::cpu, 0);
}

std::string onednn_unavailable_reason() {
  // oneDNN prints its own failure lines on stdout; the reason below says it once, on our terms.
  if (std::getenv("ONEDNN_VERBOSE") == nullptr && std::getenv("DNNL_VERBOSE") == nullptr)
    dnnl::set_verbose(0);
  try {
    onednn_cpu_engine();
    return {};
  } catch (const dnnl::error& e) {
    return fmt::format(
        "oneDNN {} found no CPU device ({}; its SYCL runtime needs an OpenCL CPU runtime: "
        "set OCL_ICD_FILENAMES to libintelocl.so)",
        dnnl_version()->major, e.what());
  }
}

std::string onednn_runtime_summary() {
  const dnnl_version_t* v = dnnl_version();
  return fmt::format("{}.{}.{} ({} CPU runtime, ISA {})", v->major, v->minor, v->patch, runtime_name(),
                     isa_name(dnnl::get_effective_cpu_isa()));
}

}  // namespace llamascope
