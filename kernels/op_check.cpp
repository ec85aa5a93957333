#include "kernels/op_check.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "base/error.h"
#include "kernels/quant.h"

namespace llamascope {
namespace {


// Outputs are surrounded by one guard row above and below and kGuardCols extra columns, all holding this
// value; a kernel that writes outside its rows x cols changes one of them.
constexpr int64_t kGuardCols = 8;
constexpr float kGuardValue = -7.25e30f;

struct Guarded {            // host values plus the backend matrix (with guards) they were uploaded to
  Buffer memory;            // owns `whole`
  Mat whole;                // (rows + 2) x (cols + kGuardCols)
  Mat view;                 // the rows x cols the op sees, stride cols + kGuardCols
  std::vector<float> host;  // rows x cols, packed
};

Guarded make_buffer(Backend& b, int64_t rows, int64_t cols, const std::vector<float>& values) {
  Guarded buf;
  buf.memory = b.alloc(rows + 2, cols + kGuardCols);
  buf.whole = buf.memory.mat;
  buf.view = Mat{buf.whole.data + buf.whole.stride, rows, cols, buf.whole.stride};
  std::vector<float> init(static_cast<size_t>((rows + 2) * (cols + kGuardCols)), kGuardValue);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      init[(r + 1) * (cols + kGuardCols) + c] = values.empty() ? 0.0f : values[r * cols + c];
  b.upload(buf.whole, init.data());
  return buf;
}

// Downloads the op's output; returns false if any guard value changed.
bool read_buffer(Backend& b, const Guarded& buf, std::vector<float>& out) {
  const int64_t rows = buf.view.rows, cols = buf.view.cols, stride = cols + kGuardCols;
  std::vector<float> all(static_cast<size_t>((rows + 2) * stride));
  b.synchronize();
  b.download(buf.whole, all.data());
  out.assign(static_cast<size_t>(rows * cols), 0.0f);
  bool intact = true;
  for (int64_t r = 0; r < rows + 2; ++r)
    for (int64_t c = 0; c < stride; ++c) {
      const float v = all[r * stride + c];
      const bool inside = r >= 1 && r <= rows && c < cols;
      if (inside)
        out[(r - 1) * cols + c] = v;
      else if (std::memcmp(&v, &kGuardValue, sizeof v) != 0)
        intact = false;
    }
  return intact;
}

std::vector<float> random_values(std::mt19937_64& rng, size_t n, float scale = 1.0f) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// A weight of `type` holding quantized random values, and their exact dequantized values for the reference.
struct TestWeight {
  Weight weight;
  std::vector<uint8_t> bytes;
  std::vector<double> values;  // rows x cols
};

TestWeight make_weight(std::mt19937_64& rng, TensorType type, int64_t rows, int64_t cols,
                       float scale = 1.0f) {
  TestWeight t;
  const std::vector<float> source = random_values(rng, static_cast<size_t>(rows * cols), scale);
  const size_t rb = row_bytes(type, cols);
  t.bytes.resize(rb * rows);
  std::vector<float> row(static_cast<size_t>(cols));
  t.values.resize(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    if (type == TensorType::F32)
      std::memcpy(t.bytes.data() + r * rb, source.data() + r * cols, rb);
    else
      quantize_row(type, source.data() + r * cols, t.bytes.data() + r * rb, cols);
    dequantize_row(type, t.bytes.data() + r * rb, row.data(), cols);
    for (int64_t c = 0; c < cols; ++c) t.values[r * cols + c] = row[c];
  }
  t.weight = Weight{"check", type, t.bytes.data(), rows, cols, rb};
  return t;
}

// Squared error over squared reference. `scale_floor` (may be 0) stands in for the reference's energy when
// that is smaller: a dot product that cancels to nearly zero must not turn rounding noise into a huge ratio.
double nmse(const std::vector<double>& ref, const std::vector<float>& got, bool& finite,
            double scale_floor = 0) {
  double diff = 0, norm = 0;
  finite = true;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(got[i])) finite = false;
    diff += (got[i] - ref[i]) * (got[i] - ref[i]);
    norm += ref[i] * ref[i];
  }
  norm = std::max(norm, scale_floor);
  return norm > 0 ? diff / norm : diff;
}

// ---- float64 references (written independently of every backend) ----

std::vector<double> ref_matmul(const std::vector<double>& w, const std::vector<float>& x, int64_t rows,
                               int64_t cols, int64_t n) {
  std::vector<double> out(static_cast<size_t>(n * rows));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t r = 0; r < rows; ++r) {
      double s = 0;
      for (int64_t c = 0; c < cols; ++c) s += w[r * cols + c] * x[i * cols + c];
      out[i * rows + r] = s;
    }
  return out;
}

void ref_rope(std::vector<double>& x, int64_t n, int heads, int head_dim, int64_t pos0, double base,
              const std::vector<float>& factors) {
  for (int64_t i = 0; i < n; ++i)
    for (int h = 0; h < heads; ++h)
      for (int d = 0; d < head_dim; d += 2) {
        double theta = double(pos0 + i) * std::pow(base, -double(d) / head_dim);
        if (!factors.empty()) theta /= factors[d / 2];
        double* p = &x[(i * heads + h) * head_dim + d];
        const double a = p[0], b = p[1];
        p[0] = a * std::cos(theta) - b * std::sin(theta);
        p[1] = a * std::sin(theta) + b * std::cos(theta);
      }
}

std::vector<double> ref_attention(const std::vector<float>& q, const std::vector<float>& k,
                                  const std::vector<float>& v, int64_t n, int64_t pos0, int heads,
                                  int kv_heads, int hd) {
  const int64_t q_dim = int64_t(heads) * hd, kv_dim = int64_t(kv_heads) * hd;
  std::vector<double> out(static_cast<size_t>(n * q_dim));
  for (int64_t i = 0; i < n; ++i)
    for (int h = 0; h < heads; ++h) {
      const int kvh = h / (heads / kv_heads);
      const int64_t keys = pos0 + i + 1;
      std::vector<double> s(static_cast<size_t>(keys));
      double mx = -INFINITY;
      for (int64_t t = 0; t < keys; ++t) {
        double dot = 0;
        for (int d = 0; d < hd; ++d) dot += double(q[i * q_dim + h * hd + d]) * k[t * kv_dim + kvh * hd + d];
        s[t] = dot / std::sqrt(double(hd));
        mx = std::max(mx, s[t]);
      }
      double total = 0;
      for (double& e : s) total += e = std::exp(e - mx);
      for (int d = 0; d < hd; ++d) {
        double acc = 0;
        for (int64_t t = 0; t < keys; ++t) acc += s[t] * v[t * kv_dim + kvh * hd + d];
        out[i * q_dim + h * hd + d] = acc / total;
      }
    }
  return out;
}

std::vector<double> widen(const std::vector<float>& v) {
  return std::vector<double>(v.begin(), v.end());
}

double matmul_limit(TensorType type) {
  switch (type) {
    case TensorType::F32:
      return 1e-9;  // float accumulation over <= a few thousand terms: ~1e-12 expected
    case TensorType::F16:
      return 1e-6;  // a backend may round activations to F16 (as llama.cpp does): ~1e-7
    case TensorType::BF16:
      return 5e-5;  // activations rounded to BF16 (8-bit mantissa): ~1e-5
    default:
      return 5e-4;  // activations quantized to 8 bits for integer dots: ~1e-5 (test-backend-ops: 5e-4)
  }
}

}  // namespace

double op_check_limit(const OpDesc& c) {
  if (c.kind == OpKind::embed) return 1e-12;  // a copy of dequantized values: exact up to float rounding
  if (c.kind != OpKind::matmul) return 1e-7;  // float arithmetic on float inputs (test-backend-ops' default)
  double limit = 0;                           // a grouped matmul of mixed types: its loosest weight's
  for (int w = 0; w < c.weights; ++w) limit = std::max(limit, matmul_limit(c.types[w]));
  return limit;
}

std::vector<OpDesc> default_op_cases() {
  std::vector<OpDesc> cases;
  for (TensorType type : kModelWeightTypes) {
    const int64_t block = type_info(type).block_elems == 256 ? 256 : 32;
    std::vector<int64_t> widths = {block == 256 ? 256 : 96, 512, 768};
    // Full chunks of the interleaved layouts (8 blocks of 32, one super-block) followed by a partial one.
    if (type_info(type).block_elems == 32) widths.push_back(352);
    if (type_info(type).block_elems == 256) widths.push_back(1280);
    const struct { int64_t rows, n; } shapes[] = {{1, 1}, {7, 1}, {67, 1}, {33, 2}, {37, 5}, {64, 17}};
    for (int64_t cols : widths)
      for (const auto& s : shapes) cases.push_back(OpDesc::matmul(type, s.rows, cols, s.n));
    for (int64_t n : {1, 7}) cases.push_back(OpDesc::embed(type, 37, block == 256 ? 256 : 96, n));
    // Grouped matmuls (q, k and v in one call, k and v a quarter of q): every output against its own
    // weight's reference.
    for (const auto& s : {shapes[2], shapes[4]})
      cases.push_back(OpDesc::matmul(type, s.rows, 512, s.n)
                          .add_weight(type, s.rows / 4 + 1)
                          .add_weight(type, s.rows / 4 + 1));
  }
  for (int64_t cols : {1, 7, 64, 255, 2048})
    for (int64_t n : {1, 3})
      for (OpKind kind : {OpKind::rmsnorm, OpKind::swiglu, OpKind::add})
        cases.push_back(OpDesc::rowwise(kind, cols, n));
  const struct {
    int heads, kv, hd;
  } heads[] = {{8, 8, 64}, {8, 2, 64}, {6, 3, 40}, {4, 1, 16}, {32, 4, 128}, {2, 2, 8}};
  for (const auto& h : heads)
    for (int64_t n : {1, 4})
      for (int64_t pos0 : {0, 17, 300}) {
        cases.push_back(OpDesc::rope(h.heads, h.kv, h.hd, n, pos0 == 300 ? 4000 : pos0, false));
        if (pos0 == 17) cases.push_back(OpDesc::rope(h.heads, h.kv, h.hd, n, pos0, true));
        cases.push_back(OpDesc::attention(TensorType::F32, h.heads, h.kv, h.hd, n, pos0));
        // An F16 cache (--kv-type f16) at a position inside the cache.
        if (pos0 == 17) cases.push_back(OpDesc::attention(TensorType::F16, h.heads, h.kv, h.hd, n, pos0));
      }
  return cases;
}

void check_op_size(const OpDesc& c) {
  constexpr int64_t kMaxValues = int64_t{1} << 26;
  const int64_t q_cols = int64_t(c.n_heads) * c.head_dim, kv_cols = int64_t(c.n_kv_heads) * c.head_dim;
  int64_t largest = c.n * std::max<int64_t>({c.cols, q_cols, 1});
  for (int w = 0; w < c.weights; ++w) largest = std::max(largest, c.rows[w] * std::max<int64_t>(c.cols, 1));
  if (c.kind == OpKind::attention) largest = std::max(largest, (c.pos0 + c.n + 3) * kv_cols);
  if (largest > kMaxValues)
    throw Error(fmt::format("'{}' holds {} values in one operand; the op checker takes at most {}", c.str(),
                            largest, kMaxValues));
}

OpCheckResult check_op(Backend& b, const OpDesc& c, uint64_t seed) {
  OpCheckResult result{b.name(), c};
  result.limit = op_check_limit(c);
  for (int w = 0; w < (c.kind == OpKind::matmul ? c.weights : 1); ++w)
    result.supported = result.supported && b.supports(c.kind, c.types[w]);
  if (!result.supported) return result;
  std::mt19937_64 rng(seed * 1000003u + static_cast<uint64_t>(c.kind) * 7919u +
                      static_cast<uint64_t>(c.type()));
  std::vector<double> expected;
  std::vector<float> got;
  Guarded out;
  double scale_floor = 0;  // matmul: the sum of squared products, the size rounding errors scale with

  switch (c.kind) {
    case OpKind::matmul: {
      // Weights scaled by 1/sqrt(cols) keep outputs O(1), as in a model.
      std::vector<TestWeight> weights;
      for (int g = 0; g < c.weights; ++g)
        weights.push_back(make_weight(rng, c.types[g], c.rows[g], c.cols, 1.0f / std::sqrt(float(c.cols))));
      const std::vector<float> x = random_values(rng, static_cast<size_t>(c.n * c.cols));
      Guarded in = make_buffer(b, c.n, c.cols, x);
      std::vector<Guarded> outs;
      std::vector<WeightHandle> handles;
      std::vector<const PreparedWeight*> pointers;
      std::vector<Mat> views;
      for (TestWeight& w : weights) {
        outs.push_back(make_buffer(b, c.n, w.weight.rows, {}));
        handles.push_back(b.prepare(w.weight, OpKind::matmul));
        pointers.push_back(handles.back().get());
        views.push_back(outs.back().view);
      }
      if (c.weights > 1)
        b.matmuls(pointers, in.view, views);
      else
        b.matmul(*handles[0], in.view, views[0]);
      for (size_t g = 0; g < weights.size(); ++g) {
        const TestWeight& w = weights[g];
        const int64_t rows = w.weight.rows;
        const std::vector<double> ref = ref_matmul(w.values, x, rows, c.cols, c.n);
        expected.insert(expected.end(), ref.begin(), ref.end());
        for (int64_t i = 0; i < c.n; ++i)
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t k = 0; k < c.cols; ++k) {
              const double product = w.values[r * c.cols + k] * x[i * c.cols + k];
              scale_floor += product * product;
            }
        std::vector<float> part;
        result.guards_intact = read_buffer(b, outs[g], part) && result.guards_intact;
        got.insert(got.end(), part.begin(), part.end());
      }
      break;
    }
    case OpKind::embed: {
      TestWeight w = make_weight(rng, c.type(), c.rows[0], c.cols);
      std::vector<int32_t> tokens(static_cast<size_t>(c.n));
      for (int64_t i = 0; i < c.n; ++i) tokens[i] = static_cast<int32_t>((i * 13 + 5) % c.rows[0]);
      out = make_buffer(b, c.n, c.cols, {});
      b.embed(*b.prepare(w.weight, OpKind::embed), tokens, out.view);
      for (int32_t t : tokens)
        expected.insert(expected.end(), w.values.begin() + t * c.cols, w.values.begin() + (t + 1) * c.cols);
      result.guards_intact = read_buffer(b, out, got);
      break;
    }
    case OpKind::rmsnorm: {
      const std::vector<float> x = random_values(rng, static_cast<size_t>(c.n * c.cols), 3.0f);
      std::vector<float> gain = random_values(rng, static_cast<size_t>(c.cols));
      const Weight g{"gain", TensorType::F32, gain.data(), 1, c.cols, static_cast<size_t>(c.cols) * 4};
      Guarded in = make_buffer(b, c.n, c.cols, x);
      out = make_buffer(b, c.n, c.cols, {});
      const float eps = 1e-5f;
      b.rmsnorm(in.view, *b.prepare(g, OpKind::rmsnorm), eps, out.view);
      for (int64_t i = 0; i < c.n; ++i) {
        double ss = 0;
        for (int64_t j = 0; j < c.cols; ++j) ss += double(x[i * c.cols + j]) * x[i * c.cols + j];
        const double scale = 1.0 / std::sqrt(ss / c.cols + eps);
        for (int64_t j = 0; j < c.cols; ++j) expected.push_back(x[i * c.cols + j] * scale * gain[j]);
      }
      result.guards_intact = read_buffer(b, out, got);
      break;
    }
    case OpKind::swiglu:
    case OpKind::add: {
      const std::vector<float> a = random_values(rng, static_cast<size_t>(c.n * c.cols), 2.0f);
      const std::vector<float> x = random_values(rng, static_cast<size_t>(c.n * c.cols));
      Guarded ba = make_buffer(b, c.n, c.cols, a), bx = make_buffer(b, c.n, c.cols, x);
      for (size_t i = 0; i < a.size(); ++i)
        expected.push_back(c.kind == OpKind::add ? double(a[i]) + x[i]
                                                 : a[i] / (1.0 + std::exp(-double(a[i]))) * x[i]);
      if (c.kind == OpKind::add) {
        b.add(ba.view, bx.view);
        out = ba;
      } else {
        out = make_buffer(b, c.n, c.cols, {});
        b.swiglu(ba.view, bx.view, out.view);
      }
      result.guards_intact = read_buffer(b, out, got);
      break;
    }
    case OpKind::rope: {
      const int64_t q_cols = int64_t(c.n_heads) * c.head_dim, k_cols = int64_t(c.n_kv_heads) * c.head_dim;
      const std::vector<float> q = random_values(rng, static_cast<size_t>(c.n * q_cols));
      const std::vector<float> k = random_values(rng, static_cast<size_t>(c.n * k_cols));
      std::vector<float> factors;
      if (c.freq_factors)
        for (int i = 0; i < c.head_dim / 2; ++i) factors.push_back(1.0f + 0.25f * float(i % 5));
      Guarded bq = make_buffer(b, c.n, q_cols, q), bk = make_buffer(b, c.n, k_cols, k);
      const int64_t pairs = static_cast<int64_t>(factors.size());
      const WeightHandle factor_handle =
          factors.empty() ? nullptr
                          : b.prepare(Weight{"rope_freqs", TensorType::F32, factors.data(), 1, pairs,
                                             static_cast<size_t>(pairs) * sizeof(float)},
                                      OpKind::rope);
      const RopeParams p{c.n_heads, c.n_kv_heads, c.head_dim, c.head_dim, 10000.0f, factor_handle.get()};
      b.rope(bq.view, bk.view, c.pos0, p);
      std::vector<double> eq = widen(q), ek = widen(k);
      ref_rope(eq, c.n, c.n_heads, c.head_dim, c.pos0, 10000.0, factors);
      ref_rope(ek, c.n, c.n_kv_heads, c.head_dim, c.pos0, 10000.0, factors);
      std::vector<float> gq, gk;
      result.guards_intact = read_buffer(b, bq, gq) && read_buffer(b, bk, gk);
      expected = eq;
      expected.insert(expected.end(), ek.begin(), ek.end());
      got = gq;
      got.insert(got.end(), gk.begin(), gk.end());
      break;
    }
    case OpKind::attention: {
      const int64_t q_cols = int64_t(c.n_heads) * c.head_dim, kv_cols = int64_t(c.n_kv_heads) * c.head_dim;
      const int64_t cache_rows = c.pos0 + c.n + 3;  // a few rows past the end that must not be read
      const std::vector<float> q = random_values(rng, static_cast<size_t>(c.n * q_cols), 2.0f);
      std::vector<float> k = random_values(rng, static_cast<size_t>(cache_rows * kv_cols));
      std::vector<float> v = random_values(rng, static_cast<size_t>(cache_rows * kv_cols));
      // Rows past pos0 + n - 1 are poison: a kernel that attends beyond its causal window gets NaN.
      for (int64_t r = c.pos0 + c.n; r < cache_rows; ++r)
        for (int64_t j = 0; j < kv_cols; ++j) k[r * kv_cols + j] = v[r * kv_cols + j] = NAN;
      Guarded bq = make_buffer(b, c.n, q_cols, q), bk = make_buffer(b, cache_rows, kv_cols, k),
              bv = make_buffer(b, cache_rows, kv_cols, v);
      out = make_buffer(b, c.n, q_cols, {});
      // The cache is written from the guarded buffers (kv_write) and then attended over.
      KvCache cache = b.alloc_kv(cache_rows, kv_cols, c.type());
      b.kv_write(cache, bk.view, bv.view, 0);
      b.attention(bq.view, cache, c.pos0, AttentionShape{c.n_heads, c.n_kv_heads, c.head_dim}, out.view);
      if (c.type() == TensorType::F16)  // the reference attends over the values the cache holds
        for (std::vector<float>* values : {&k, &v})
          for (float& x : *values) x = fp16_to_fp32(fp32_to_fp16(x));
      expected = ref_attention(q, k, v, c.n, c.pos0, c.n_heads, c.n_kv_heads, c.head_dim);
      result.guards_intact = read_buffer(b, out, got);
      break;
    }
    case OpKind::count:
      break;
  }
  result.nmse = nmse(expected, got, result.finite, scale_floor);
  return result;
}

}  // namespace llamascope
