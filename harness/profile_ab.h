// `llamascope profile --ab A --vs B`: the per-op speed-up of kernel set B over A, both run in one process
// on one loaded model, step by step (docs/ab.md).
#pragma once

#include <string>

#include "harness/ab.h"

namespace llamascope {

struct ProfileAbArgs {
  AbSpec ab;
  std::string model;  // "" = the bundled model
  int threads = 1;
  std::string kv_type = "f32";
  int n_prompt = 128, n_gen = 32;
  int rounds = 4;           // prefill + n_gen decode steps, this many times (half in each preparation order)
  double threshold = 0.05;  // the speed-up beyond which an op is called faster or slower
  std::string jsonl;
};

// Prints the per-op table and writes llamascope.profile_ab/1 and llamascope.op_ab/1 records to
// args.jsonl when given. Throws Error for unusable arguments.
void profile_ab(const ProfileAbArgs& args);

}  // namespace llamascope
