// `bench --shard I/N` and the job-array variables that stand in for it (bench_shard.h).
#include "harness/bench_shard.h"

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>

#include "base/error.h"

namespace llamascope {
namespace {

// A non-negative integer, the whole text; -1 otherwise.
long parse_count(const std::string& text) {
  if (text.empty() || text.size() > 9 || text.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::strtol(text.c_str(), nullptr, 10);
}

BenchShard checked(long index, long count, const std::string& source) {
  if (index < 0 || count < 1 || index >= count)
    throw Error(fmt::format("{}: expected shard I/N with 0 <= I < N", source));
  return {static_cast<int>(index), static_cast<int>(count)};
}

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

}  // namespace

bool BenchShard::any(size_t begin, size_t end) const {
  for (size_t p = begin; p < end; ++p)
    if (contains(p)) return true;
  return false;
}

std::string BenchShard::describe() const {
  return count == 1 ? "" : fmt::format("{}/{}", index, count);
}

BenchShard bench_shard_from(const std::string& flag) {
  if (!flag.empty()) {
    const size_t slash = flag.find('/');
    if (slash == std::string::npos) throw Error("--shard '" + flag + "': expected I/N, e.g. --shard 0/4");
    return checked(parse_count(flag.substr(0, slash)), parse_count(flag.substr(slash + 1)),
                   "--shard '" + flag + "'");
  }
  if (!env("JOB_COMPLETION_INDEX").empty() && !env("JOB_COMPLETIONS").empty())
    return checked(parse_count(env("JOB_COMPLETION_INDEX")), parse_count(env("JOB_COMPLETIONS")),
                   "JOB_COMPLETION_INDEX/JOB_COMPLETIONS");
  if (!env("SLURM_ARRAY_TASK_ID").empty() && !env("SLURM_ARRAY_TASK_COUNT").empty()) {
    const long min = env("SLURM_ARRAY_TASK_MIN").empty() ? 0 : parse_count(env("SLURM_ARRAY_TASK_MIN"));
    const long id = parse_count(env("SLURM_ARRAY_TASK_ID"));
    return checked(id < 0 || min < 0 ? -1 : id - min, parse_count(env("SLURM_ARRAY_TASK_COUNT")),
                   "SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT");
  }
  return {};
}

}  // namespace llamascope
