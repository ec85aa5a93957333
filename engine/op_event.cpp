#include "engine/forward.h"

namespace llamascope {

OpDesc OpEvent::desc(const ModelConfig& c, int64_t rows) const {
  const std::span<const Weight* const> w = weights();
  OpDesc d;
  switch (kind) {
    case OpKind::matmul:
    case OpKind::embed:
      if (w.empty()) break;
      d = kind == OpKind::embed ? OpDesc::embed(w[0]->type, w[0]->rows, w[0]->cols, rows)
                                : OpDesc::matmul(w[0]->type, w[0]->rows, w[0]->cols, rows);
      for (size_t i = 1; i < w.size(); ++i) d.add_weight(w[i]->type, w[i]->rows);
      break;
    case OpKind::rmsnorm:
      d = OpDesc::rowwise(kind, c.dim, rows);
      if (!w.empty()) d.types[0] = w[0]->type;  // the gain's
      break;
    case OpKind::swiglu:
      d = OpDesc::rowwise(kind, c.hidden_dim, rows);
      break;
    case OpKind::add:
      d = OpDesc::rowwise(kind, c.dim, rows);
      break;
    case OpKind::rope:
      d = OpDesc::rope(c.n_heads, c.n_kv_heads, c.head_dim, rows, pos0, false);
      break;
    case OpKind::attention:
      // The event does not carry the cache's type; the cost counts K and V as floats either way.
      d = OpDesc::attention(TensorType::F32, c.n_heads, c.n_kv_heads, c.head_dim, rows, pos0);
      break;
    case OpKind::count:
      break;
  }
  d.name = op;
  return d;
}

}  // namespace llamascope
