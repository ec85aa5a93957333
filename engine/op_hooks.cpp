#include "engine/op_hooks.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include "engine/fault_injection.h"

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define LLAMASCOPE_HAVE_VALGRIND 1
#else
#define LLAMASCOPE_HAVE_VALGRIND 0
#endif

namespace llamascope {

namespace {

bool under_valgrind() {
#if LLAMASCOPE_HAVE_VALGRIND
  return RUNNING_ON_VALGRIND != 0;
#else
  return false;
#endif
}

// Per-op Callgrind dumps: the counters are dumped (and so reset) before each op and after it, the second
// dump named "op=NAME kind=KIND layer=L batch=B pos0=P" so `llamascope gate --counter instructions`
// attributes every cost to the op that incurred it (docs/gate.md).
bool callgrind_markers_on() {
  const char* flag = std::getenv("LLAMASCOPE_CALLGRIND_OPS");
  return flag && std::strcmp(flag, "1") == 0 && under_valgrind();
}

const bool g_valgrind = under_valgrind();
const bool g_markers = callgrind_markers_on();

}  // namespace

const bool g_op_hooks_active = [] {
  const char* slowdown = std::getenv("LLAMASCOPE_INJECT_SLOWDOWN");
  if (!slowdown || !*slowdown) return g_markers;
  // Parsed before main(), so no op (the first one included) runs with the parser's allocations.
  try {
    slowdown_rules();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "llamascope: error: %s\n", e.what());
    std::exit(2);
  }
  return true;
}();

void run_op_hooked_erased(const OpSite& site, void (*call)(void*), void* fn) {
  const double fraction = slowdown_for(site);
#if LLAMASCOPE_HAVE_VALGRIND
  if (g_markers) CALLGRIND_DUMP_STATS_AT("between ops");  // what ran since the last op is not this op's
#endif
  run_with_slowdown(site, fraction, call, fn, g_valgrind);
#if LLAMASCOPE_HAVE_VALGRIND
  if (g_markers) {
    char label[128];
    std::snprintf(label, sizeof label, "op=%s kind=%s layer=%d batch=%lld pos0=%lld", site.name,
                  op_kind_name(site.kind), site.layer, static_cast<long long>(site.batch),
                  static_cast<long long>(site.pos0));
    CALLGRIND_DUMP_STATS_AT(label);
  }
#endif
}

}  // namespace llamascope
