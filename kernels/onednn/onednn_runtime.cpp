#include "kernels/onednn/onednn_runtime.h"

#include <fmt/format.h>
#include <oneapi/dnnl/dnnl_debug.h>
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
  return fmt::format("{}.{}.{} ({} CPU runtime, ISA {})", v->major, v->minor, v->patch,
                     dnnl_runtime2str(v->cpu_runtime),
                     dnnl_cpu_isa2str(static_cast<dnnl_cpu_isa_t>(dnnl::get_effective_cpu_isa())));
}

}  // namespace llamascope
