#include "harness/kld_reference.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <numeric>

#include "base/error.h"
#include "harness/common.h"

namespace llamascope {
namespace {

constexpr char kMagic[8] = {'L', 'S', 'K', 'L', 'D', 'R', 'E', 'F'};
constexpr uint32_t kVersion = 1;
constexpr size_t kShaChars = 64;

template <class T>
void put(std::string& out, const T& value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof value);
}

template <class T>
void put_span(std::string& out, std::span<const T> values) {
  out.append(reinterpret_cast<const char*>(values.data()), values.size_bytes());
}

// Reads fixed-size values from a byte buffer, throwing where the file ends too soon.
class Reader {
 public:
  Reader(const std::string& path, std::string bytes) : path_(path), bytes_(std::move(bytes)) {}

  template <class T>
  T get() {
    T value;
    std::memcpy(&value, take(sizeof value), sizeof value);
    return value;
  }
  template <class T>
  void get_into(std::vector<T>& out, uint64_t count) {
    if (count > remaining() / sizeof(T)) fail("ends before its data (truncated?)");
    const size_t old = out.size();
    out.resize(old + count);
    std::memcpy(out.data() + old, take(count * sizeof(T)), count * sizeof(T));
  }
  size_t remaining() const { return bytes_.size() - at_; }
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(path_ + ": not a KLD reference: " + what);
  }

 private:
  const char* take(size_t n) {
    if (n > remaining()) fail("ends before its data (truncated?)");
    const char* p = bytes_.data() + at_;
    at_ += n;
    return p;
  }
  std::string path_;
  std::string bytes_;
  size_t at_ = 0;
};

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TopLogits KldReference::position(size_t i) const {
  const size_t at = offsets[i], n = counts[i];
  return TopLogits{std::span<const int32_t>(ids).subspan(at, n),
                   std::span<const float>(logits).subspan(at, n), log_sum_exps[i], next_logits[i]};
}

void KldReference::add_position(std::span<const float> row, int32_t next) {
  std::vector<int32_t> order(row.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return row[a] > row[b]; });
  const double max = row[order[0]];
  double sum = 0;
  for (float v : row) sum += std::exp(v - max);
  const double lse = max + std::log(sum);
  size_t k = 0;
  double kept = 0;
  while (k < order.size() && (k < min_k || 1.0 - kept > tail_mass)) kept += std::exp(row[order[k++]] - lse);
  offsets.push_back(ids.size());
  counts.push_back(static_cast<uint32_t>(k));
  log_sum_exps.push_back(lse);
  next_logits.push_back(row[next]);
  for (size_t j = 0; j < k; ++j) {
    ids.push_back(order[j]);
    logits.push_back(row[order[j]]);
  }
}

void write_kld_reference(const std::string& path, const KldReference& ref) {
  std::string out(kMagic, sizeof kMagic);
  put(out, kVersion);
  for (uint32_t v : {ref.n_vocab, ref.ctx, ref.n_chunks, ref.first, ref.min_k}) put(out, v);
  put(out, ref.tail_mass);
  std::string sha = ref.base_sha256;
  sha.resize(kShaChars, ' ');
  out += sha;
  put(out, static_cast<uint64_t>(ref.positions()));
  put_span<int32_t>(out, ref.tokens);
  for (size_t i = 0; i < ref.positions(); ++i) {
    const TopLogits p = ref.position(i);
    put(out, ref.counts[i]);
    put(out, p.log_sum_exp);
    put(out, p.next_logit);
    put_span(out, p.ids);
    put_span(out, p.logits);
  }
  write_file_atomically(path, out);
}

KldReference read_kld_reference(const std::string& path) {
  Reader in(path, read_all(path));
  char magic[sizeof kMagic];
  for (char& c : magic) c = in.get<char>();
  if (std::memcmp(magic, kMagic, sizeof kMagic) != 0) in.fail("bad magic");
  if (const uint32_t v = in.get<uint32_t>(); v != kVersion)
    in.fail("version " + std::to_string(v) + " (this build reads " + std::to_string(kVersion) + ")");
  KldReference ref;
  ref.n_vocab = in.get<uint32_t>();
  ref.ctx = in.get<uint32_t>();
  ref.n_chunks = in.get<uint32_t>();
  ref.first = in.get<uint32_t>();
  ref.min_k = in.get<uint32_t>();
  ref.tail_mass = in.get<double>();
  for (size_t i = 0; i < kShaChars; ++i) ref.base_sha256 += in.get<char>();
  while (!ref.base_sha256.empty() && ref.base_sha256.back() == ' ') ref.base_sha256.pop_back();
  const uint64_t positions = in.get<uint64_t>();
  if (ref.n_vocab == 0 || ref.ctx < 2 || ref.n_chunks == 0 || ref.first < 1 || ref.first > ref.ctx - 2)
    in.fail("header sizes out of range");
  if (positions != uint64_t(ref.n_chunks) * (ref.ctx - 1 - ref.first)) in.fail("position count disagrees");
  in.get_into(ref.tokens, uint64_t(ref.ctx) * ref.n_chunks);
  for (int32_t t : ref.tokens)
    if (t < 0 || static_cast<uint32_t>(t) >= ref.n_vocab) in.fail("token id outside the vocabulary");
  for (uint64_t i = 0; i < positions; ++i) {
    const uint32_t k = in.get<uint32_t>();
    if (k == 0 || k > ref.n_vocab)
      in.fail("entry count " + std::to_string(k) + " at position " + std::to_string(i));
    ref.offsets.push_back(ref.ids.size());
    ref.counts.push_back(k);
    ref.log_sum_exps.push_back(in.get<double>());
    ref.next_logits.push_back(in.get<float>());
    in.get_into(ref.ids, k);
    in.get_into(ref.logits, k);
    for (size_t j = ref.ids.size() - k; j < ref.ids.size(); ++j)
      if (ref.ids[j] < 0 || static_cast<uint32_t>(ref.ids[j]) >= ref.n_vocab || !std::isfinite(ref.logits[j]))
        in.fail("entry outside the vocabulary or not finite at position " + std::to_string(i));
    if (!std::isfinite(ref.log_sum_exps.back()) || !std::isfinite(ref.next_logits.back()))
      in.fail("log-sum-exp not finite at position " + std::to_string(i));
  }
  if (in.remaining() != 0) in.fail("trailing bytes");
  return ref;
}

}  // namespace llamascope
