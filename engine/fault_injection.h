// Fault injection: deliberate, configurable damage to chosen ops, so the harness's detectors (the
// performance gate, later the numerics checks) can be tested against a fault of known size.
// LLAMASCOPE_INJECT_SLOWDOWN=OP:FRACTION[,OP:FRACTION...] makes each named op slower by FRACTION of its own
// time. OP is an op kind (`matmul`, `attention`, `rmsnorm`, ...) or a forward op name (`attn_qkv`,
// `ffn_down`, ...). Natively the extra time is a busy loop running for FRACTION x the op's measured time;
// under Valgrind, where time means nothing, the loop runs a deterministic number of instructions,
// FRACTION x the op's estimated instruction count (from its shapes; docs/gate.md). A later
// LLAMASCOPE_INJECT_FAULT=OP:LAYER[:SIZE][,...] perturbs the output of forward op OP (`ffn_down`, `attn`,
// ...) in layer LAYER (-1: the ops outside the layers) of every forward that takes faults (all but a
// reference run): each value gets deterministic Gaussian noise of SIZE (default 0.1) times the output's RMS.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "engine/op_hooks.h"

namespace llamascope {

struct InjectionRule {
  std::string op;  // op kind name or forward op name
  double fraction = 0;
};

// Parses "OP:FRACTION[,OP:FRACTION...]"; throws Error naming the variable for anything malformed.
std::vector<InjectionRule> parse_injection_rules(const std::string& spec, const char* variable);

// The rules from LLAMASCOPE_INJECT_SLOWDOWN (empty when unset); read once, reported once on stderr.
const std::vector<InjectionRule>& slowdown_rules();

// Fraction to add to this op (0: none).
double slowdown_for(const OpSite& site);

// Instructions the op is estimated to execute on the AVX2 path, from its shapes.
double estimated_op_instructions(const OpSite& site);

// Runs `call(fn)` and then the injected slowdown (none when fraction is 0).
void run_with_slowdown(const OpSite& site, double fraction, void (*call)(void*), void* fn,
                       bool under_valgrind);

struct OutputFault {
  std::string op;  // forward op name
  int layer = 0;
  double size = 0.1;  // noise RMS relative to the output's RMS
};

// Parses "OP:LAYER[:SIZE][,...]"; throws Error naming the variable for anything malformed.
std::vector<OutputFault> parse_output_faults(const std::string& spec, const char* variable);

// The faults from LLAMASCOPE_INJECT_FAULT (empty when unset); read once, reported once on stderr.
const std::vector<OutputFault>& output_faults();

// Perturbs `values` (the output of op `name` in `layer`) when a fault names them; returns whether it did.
bool perturb_output(const char* name, int layer, std::span<float> values);

}  // namespace llamascope
