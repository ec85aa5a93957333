#include "kernels/op_desc.h"

#include <fmt/format.h>

#include <charconv>
#include <map>
#include <optional>
#include <vector>

#include "base/error.h"
#include "kernels/quant.h"

namespace llamascope {
namespace {

struct Cost {
  double bytes = 0, flops = 0;
};

// The formulas of docs/results.md ("Bytes and FLOPs"); the order of each expression is the records' own,
// so the doubles written are the same bits whichever caller builds the descriptor.
Cost single_cost(const OpDesc& d, int w) {
  const double n = static_cast<double>(d.n), f = sizeof(float);
  const int64_t q_dim = int64_t(d.n_heads) * d.head_dim, kv_dim = int64_t(d.n_kv_heads) * d.head_dim;
  switch (d.kind) {
    case OpKind::embed:
      return {n * static_cast<double>(row_bytes(d.types[0], d.cols)) + n * d.cols * f, 0};
    case OpKind::rmsnorm:  // the gain is one row
      return {static_cast<double>(row_bytes(d.types[0], d.cols)) + 2 * n * d.cols * f, 4 * n * d.cols};
    case OpKind::matmul: {
      const double weight_bytes =
          static_cast<double>(row_bytes(d.types[w], d.cols) * static_cast<size_t>(d.rows[w]));
      const double out = static_cast<double>(d.rows[w]), in = static_cast<double>(d.cols);
      return {weight_bytes + n * (in + out) * f, 2 * n * out * in};
    }
    case OpKind::rope:
      return {2 * n * (q_dim + kv_dim) * f, 3 * n * (q_dim + kv_dim)};
    case OpKind::attention: {
      // Query i (position pos0 + i) reads pos0 + i + 1 keys; K and V rows are read once for the batch.
      const double pairs = n * static_cast<double>(d.pos0) + n * (n + 1) / 2;
      return {2.0 * static_cast<double>(d.n_keys()) * kv_dim * f + 2 * n * q_dim * f,
              d.n_heads * pairs * (4.0 * d.head_dim + 5)};
    }
    case OpKind::swiglu:
      return {3 * n * d.cols * f, 5 * n * d.cols};
    case OpKind::add:
      return {3 * n * d.cols * f, n * d.cols};
    case OpKind::count:
      break;
  }
  return {};
}

// A grouped matmul costs what one matmul by its weights stacked into one matrix would: each weight's cost,
// with the shared input counted once.
Cost cost(const OpDesc& d) {
  if (d.kind != OpKind::matmul) return single_cost(d, 0);
  Cost total;
  for (int w = 0; w < d.weights; ++w) {
    const Cost one = single_cost(d, w);
    total.bytes += one.bytes, total.flops += one.flops;
  }
  total.bytes -= static_cast<double>(d.weights - 1) * static_cast<double>(d.n) * static_cast<double>(d.cols) *
                 sizeof(float);
  return total;
}

// ---- parsing ----

// The bounds keep a pasted case to what a model can hold: widths within 2^24, batches within 2^16.
constexpr int64_t kMaxWidth = int64_t{1} << 24;
constexpr int64_t kMaxBatch = int64_t{1} << 16;

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  OpDesc run() {
    std::vector<std::string_view> words;
    for (size_t at = 0; at < text_.size();) {
      const size_t start = text_.find_first_not_of(kSpace, at);
      if (start == std::string_view::npos) break;
      const size_t end = std::min(text_.find_first_of(kSpace, start), text_.size());
      words.push_back(text_.substr(start, end - start));
      at = end;
    }
    if (words.empty()) fail("empty (expected an op such as 'matmul type=Q4_0 rows=64 cols=256 n=1')");
    OpDesc d;
    const std::string_view op = words[0];
    const bool grouped = op == "matmuls";
    const std::optional<OpKind> kind = grouped ? OpKind::matmul : kind_named(op);
    if (!kind)
      fail(
          fmt::format("unknown op '{}' (matmul, matmuls, embed, rmsnorm, swiglu, add, rope, attention)", op));
    d.kind = *kind;
    for (size_t i = 1; i < words.size(); ++i) {
      const size_t eq = words[i].find('=');
      if (eq == std::string_view::npos || eq == 0) fail(fmt::format("'{}' is not key=value", words[i]));
      const std::string key(words[i].substr(0, eq));
      if (!values_.emplace(key, words[i].substr(eq + 1)).second) fail(fmt::format("'{}' given twice", key));
    }
    switch (d.kind) {
      case OpKind::matmul:
      case OpKind::embed:
        weights(d, grouped);
        d.cols = integer("cols", 1, kMaxWidth);
        for (int w = 0; w < d.weights; ++w)
          if (d.cols % type_info(d.types[w]).block_elems != 0)
            fail(fmt::format("cols={} is not a whole number of {} blocks ({} values)", d.cols,
                             type_name(d.types[w]), type_info(d.types[w]).block_elems));
        break;
      case OpKind::rmsnorm:
      case OpKind::swiglu:
      case OpKind::add:
        d.cols = integer("cols", 1, kMaxWidth);
        if (d.kind == OpKind::rmsnorm && values_.count("type")) d.types[0] = type("type", false);
        if (d.cols % type_info(d.types[0]).block_elems != 0)
          fail(fmt::format("cols={} is not a whole number of {} blocks", d.cols, type_name(d.types[0])));
        break;
      case OpKind::rope:
      case OpKind::attention:
        if (d.kind == OpKind::attention) d.types[0] = type("kv", true);
        d.n_heads = static_cast<int>(integer("heads", 1, 1024));
        d.n_kv_heads = static_cast<int>(integer("kv_heads", 1, d.n_heads));
        if (d.n_heads % d.n_kv_heads != 0)
          fail(fmt::format("heads={} is not a multiple of kv_heads={}", d.n_heads, d.n_kv_heads));
        d.head_dim = static_cast<int>(integer("head_dim", 2, 1024));
        if (d.head_dim % 2 != 0) fail(fmt::format("head_dim={} is odd (rope rotates pairs)", d.head_dim));
        d.pos0 = integer("pos0", 0, kMaxWidth);
        if (d.kind == OpKind::rope) d.freq_factors = integer("factors", 0, 1) == 1;
        break;
      case OpKind::count:
        break;
    }
    d.n = integer("n", 1, kMaxBatch);
    if (values_.count("name")) {
      d.name = take("name");
      if (d.name.empty() ||
          d.name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") != std::string::npos)
        fail(fmt::format("name='{}' is not an op name (lowercase letters, digits, _)", d.name));
    }
    if (!values_.empty())
      fail(fmt::format("'{}' is not a key of {}", values_.begin()->first,
                       grouped ? "matmuls" : op_kind_name(d.kind)));
    return d;
  }

 private:
  // Words never hold white space, so a message quoting them stays on one line.
  static constexpr const char* kSpace = " \t\n\r\v\f";

  [[noreturn]] static void fail(const std::string& why) { throw Error(why); }

  static std::optional<OpKind> kind_named(std::string_view name) {
    for (int k = 0; k < static_cast<int>(OpKind::count); ++k)
      if (name == op_kind_name(static_cast<OpKind>(k))) return static_cast<OpKind>(k);
    return std::nullopt;
  }

  std::string take(const std::string& key) {
    const auto it = values_.find(key);
    if (it == values_.end()) fail(fmt::format("{}= is missing", key));
    const std::string value(it->second);
    values_.erase(it);
    return value;
  }

  static std::vector<std::string> split(const std::string& list) {
    std::vector<std::string> parts;
    for (size_t at = 0;;) {
      const size_t comma = list.find(',', at);
      parts.push_back(list.substr(at, comma == std::string::npos ? std::string::npos : comma - at));
      if (comma == std::string::npos) return parts;
      at = comma + 1;
    }
  }

  int64_t number(const std::string& key, const std::string& text, int64_t lo, int64_t hi) const {
    int64_t v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size())
      fail(fmt::format("{}='{}' is not a whole number", key, text));
    if (v < lo || v > hi) fail(fmt::format("{}={} is outside {}..{}", key, v, lo, hi));
    return v;
  }

  int64_t integer(const std::string& key, int64_t lo, int64_t hi) { return number(key, take(key), lo, hi); }

  TensorType type_of(const std::string& key, const std::string& name, bool kv) const {
    const std::optional<TensorType> t = tensor_type_from_name(name);
    if (!t || !can_quantize_to(*t)) fail(fmt::format("{}='{}' is not a weight type", key, name));
    if (kv && *t != TensorType::F32 && *t != TensorType::F16)
      fail(fmt::format("{}={} is not a KV cache type (F32 or F16)", key, name));
    return *t;
  }

  TensorType type(const std::string& key, bool kv) { return type_of(key, take(key), kv); }

  // type= and rows=: one each, or (matmuls) one row count per weight and one type or one per weight.
  void weights(OpDesc& d, bool grouped) {
    const std::vector<std::string> types = split(take("type")), rows = split(take("rows"));
    const size_t count = rows.size();
    if (!grouped && count != 1)
      fail(fmt::format("rows= holds {} values; several weights of one input are 'matmuls'", count));
    if (grouped && (count < 2 || count > OpDesc::kMaxWeights))
      fail(fmt::format("matmuls takes 2 to {} weights (rows=R1,R2,...), not {}", OpDesc::kMaxWeights, count));
    if (types.size() != 1 && types.size() != count)
      fail(fmt::format("type= holds {} values for {} weights (one, or one per weight)", types.size(), count));
    d.weights = static_cast<int>(count);
    for (size_t w = 0; w < count; ++w) {
      d.rows[w] = number("rows", rows[w], 1, kMaxWidth);
      d.types[w] = type_of("type", types[types.size() == 1 ? 0 : w], false);
    }
  }

  std::string_view text_;
  std::map<std::string, std::string_view> values_;
};

}  // namespace

OpDesc OpDesc::matmul(TensorType type, int64_t rows, int64_t cols, int64_t n) {
  OpDesc d{.kind = OpKind::matmul, .cols = cols, .n = n};
  d.types[0] = type;
  d.rows[0] = rows;
  return d;
}

OpDesc OpDesc::embed(TensorType type, int64_t rows, int64_t cols, int64_t n) {
  OpDesc d = matmul(type, rows, cols, n);
  d.kind = OpKind::embed;
  return d;
}

OpDesc OpDesc::rowwise(OpKind kind, int64_t cols, int64_t n) {
  return OpDesc{.kind = kind, .cols = cols, .n = n};
}

OpDesc OpDesc::rope(int n_heads, int n_kv_heads, int head_dim, int64_t n, int64_t pos0, bool freq_factors) {
  return OpDesc{.kind = OpKind::rope,
                .n = n,
                .n_heads = n_heads,
                .n_kv_heads = n_kv_heads,
                .head_dim = head_dim,
                .pos0 = pos0,
                .freq_factors = freq_factors};
}

OpDesc OpDesc::attention(TensorType kv_type, int n_heads, int n_kv_heads, int head_dim, int64_t n,
                         int64_t pos0) {
  OpDesc d = rope(n_heads, n_kv_heads, head_dim, n, pos0, false);
  d.kind = OpKind::attention;
  d.types[0] = kv_type;
  return d;
}

OpDesc& OpDesc::add_weight(TensorType type, int64_t weight_rows) {
  if (weights >= kMaxWeights)
    throw Error(fmt::format("a grouped matmul takes at most {} weights", kMaxWeights));
  types[weights] = type;
  rows[weights] = weight_rows;
  ++weights;
  return *this;
}

double OpDesc::bytes() const {
  return cost(*this).bytes;
}

double OpDesc::flops() const {
  return cost(*this).flops;
}

std::string OpDesc::str() const {
  std::string s;
  switch (kind) {
    case OpKind::matmul:
    case OpKind::embed: {
      std::vector<std::string> type_list, row_list;
      bool one_type = true;
      for (int w = 0; w < weights; ++w) {
        type_list.push_back(type_name(types[w]));
        row_list.push_back(std::to_string(rows[w]));
        one_type = one_type && types[w] == types[0];
      }
      if (one_type) type_list.resize(1);
      s = fmt::format("{} type={} rows={} cols={} n={}", weights > 1 ? "matmuls" : op_kind_name(kind),
                      fmt::join(type_list, ","), fmt::join(row_list, ","), cols, n);
      break;
    }
    case OpKind::rmsnorm:
    case OpKind::swiglu:
    case OpKind::add:
      s = fmt::format("{} cols={} n={}", op_kind_name(kind), cols, n);
      if (types[0] != TensorType::F32) s += fmt::format(" type={}", type_name(types[0]));
      break;
    case OpKind::rope:
      s = fmt::format("rope heads={} kv_heads={} head_dim={} n={} pos0={} factors={}", n_heads, n_kv_heads,
                      head_dim, n, pos0, freq_factors ? 1 : 0);
      break;
    case OpKind::attention:
      s = fmt::format("attention kv={} heads={} kv_heads={} head_dim={} n={} pos0={}", type_name(types[0]),
                      n_heads, n_kv_heads, head_dim, n, pos0);
      break;
    case OpKind::count:
      return "?";
  }
  if (!name.empty()) s += " name=" + name;
  return s;
}

OpDesc OpDesc::parse(std::string_view text) {
  return Parser(text).run();
}

}  // namespace llamascope
