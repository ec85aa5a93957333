// Splitting bench's matrix for a fleet (docs/fleet.md): `bench --shard I/N` runs the I-th of N disjoint
// parts of the expanded list models x kernel sets x threads x tests, and a job array's index and size
// (Kubernetes indexed Jobs, Slurm arrays) stand in for the flag when it is absent.
#pragma once

#include <cstddef>
#include <string>

namespace llamascope {

struct BenchShard {
  int index = 0;
  int count = 1;
  // Row `position` of the expanded matrix (0-based, in bench's order) belongs to this shard. Rows are dealt
  // round-robin, so every shard gets a similar mix of models, kernel sets, thread counts and tests.
  bool contains(size_t position) const { return static_cast<int>(position % count) == index; }
  // Whether any of the rows [begin, end) belongs to this shard (so a model or kernel set with none of its
  // rows here is not even loaded).
  bool any(size_t begin, size_t end) const;
  std::string describe() const;  // "1/4", or "" when unsharded
};

// From --shard "I/N" when given; else JOB_COMPLETION_INDEX/JOB_COMPLETIONS, else
// SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT (Slurm ids counted from SLURM_ARRAY_TASK_MIN); else the whole
// matrix. Error for a malformed value or I outside 0..N-1.
BenchShard bench_shard_from(const std::string& flag);

}  // namespace llamascope
