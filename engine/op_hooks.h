// Optional work wrapped around each op of the forward pass, for testing and measuring the harness itself:
// fault injection (engine/fault_injection.h) and per-op cost markers for Callgrind (`llamascope gate
// --counter instructions`). Everything here is off unless an environment variable turns it on, and then
// the forward pays one predictable branch per op.
#pragma once

#include <cstdint>
#include <span>

#include "kernels/backend.h"

namespace llamascope {

struct ModelConfig;
struct Weight;

// The op about to run, as the forward describes it.
struct OpSite {
  const char* name;  // forward op name: "attn_qkv", "ffn_down", ...
  OpKind kind;
  int layer;
  int64_t pos0, batch;
  std::span<const Weight* const> weights;
  int64_t n_keys;
  const ModelConfig* config;
};

// Whether any hook is on: LLAMASCOPE_INJECT_SLOWDOWN is set, or the process runs under Valgrind with
// LLAMASCOPE_CALLGRIND_OPS=1. Read once, before main().
extern const bool g_op_hooks_active;
inline bool op_hooks_active() {
  return g_op_hooks_active;
}

void run_op_hooked_erased(const OpSite& site, void (*call)(void*), void* fn);

// Runs fn (the op) with the hooks around it.
template <class Fn>
void run_op_hooked(const OpSite& site, Fn& fn) {
  run_op_hooked_erased(
      site, [](void* f) { (*static_cast<Fn*>(f))(); }, &fn);
}

}  // namespace llamascope
