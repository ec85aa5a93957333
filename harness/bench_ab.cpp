// `llamascope bench --ab A --vs B`: both kernel sets on one loaded model, a test's steps taken in turns,
// so the speed-up of B over A comes from pairs of steps run back to back in one process (harness/ab.h).
#include <span>

#include "engine/sampler.h"
#include "harness/bench.h"

namespace llamascope::bench {

bool AbRow::add_repetition(const AbSets& sets, const BenchTest& test, const std::vector<int32_t>& prompt,
                           int32_t bos, std::vector<float> logits[2]) {
  int32_t next[2] = {0, 0};
  // The first step: the prompt in one batch (timed), or the BOS a tg test starts from (not timed).
  const PairTimes first = time_pair(turn++, *sets.set[0], *sets.set[1], [&](int side) {
    if (test.n_prompt > 0)
      sets.forward[side]->eval(std::span<const int32_t>(prompt.data(), static_cast<size_t>(test.n_prompt)), 0,
                               logits[side].data());
    else
      sets.forward[side]->eval({&bos, 1}, 0, logits[side].data());
    if (test.n_gen > 0) next[side] = argmax(logits[side]);
  });
  const double first_ns[2] = {first.a_ns, first.b_ns};
  std::vector<double> steps[2];
  if (test.n_prompt > 0) steps[0].push_back(first.a_ns), steps[1].push_back(first.b_ns);
  double decode_ns[2] = {0, 0};
  const int64_t pos0 = test.n_prompt > 0 ? test.n_prompt : 1;
  for (int i = 0; i < test.n_gen; ++i) {
    if (interrupted()) return false;
    const PairTimes t = time_pair(turn++, *sets.set[0], *sets.set[1], [&](int side) {
      sets.forward[side]->eval({&next[side], 1}, pos0 + i, logits[side].data());
      next[side] = argmax(logits[side]);
    });
    decode_ns[0] += t.a_ns, decode_ns[1] += t.b_ns;
    steps[0].push_back(t.a_ns), steps[1].push_back(t.b_ns);
  }
  for (int side = 0; side < 2; ++side) {
    Sample s;
    s.tokens = test.n_prompt + test.n_gen;
    s.decode_ns = decode_ns[side];
    s.ttft_ns = test.n_gen > 0 ? first_ns[side] : -1;
    s.timed_ns = (test.n_prompt > 0 ? first_ns[side] : 0) + decode_ns[side];
    add_sample(times[side], test, s);
    step_ns[side].insert(step_ns[side].end(), steps[side].begin(), steps[side].end());
  }
  return true;
}

}  // namespace llamascope::bench
