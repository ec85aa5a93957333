#include "engine/forward.h"

#include <algorithm>

#include "engine/error.h"
#include "engine/op_hooks.h"

namespace llamascope {

Forward::Forward(const Model& model, KernelSet& kernels, int64_t context, int64_t max_batch)
    : model_(model), kernels_(kernels) {
  const ModelConfig& c = model.config;
  context_ = context > 0 ? context : c.context_length;
  max_batch_ = std::clamp<int64_t>(max_batch, 1, context_);
  Backend& mem = kernels.memory();
  x_ = mem.alloc(max_batch_, c.dim);
  xb_ = mem.alloc(max_batch_, c.dim);
  q_ = mem.alloc(max_batch_, c.q_dim());
  att_ = mem.alloc(max_batch_, c.q_dim());
  proj_ = mem.alloc(max_batch_, c.dim);
  gate_ = mem.alloc(max_batch_, c.hidden_dim);
  up_ = mem.alloc(max_batch_, c.hidden_dim);
  logits_ = mem.alloc(std::min(max_batch_, kLogitsRows), c.vocab_size);
  for (int l = 0; l < c.n_layers; ++l) {
    k_cache_.push_back(mem.alloc(context_, c.kv_dim()));
    v_cache_.push_back(mem.alloc(context_, c.kv_dim()));
  }
  rope_ = RopeParams{
      c.n_heads,        c.n_kv_heads,
      c.head_dim,       c.rope_dims,
      c.rope_freq_base, model.rope_freq_factors.empty() ? nullptr : model.rope_freq_factors.data()};
  attention_shape_ = AttentionShape{c.n_heads, c.n_kv_heads, c.head_dim};

  // A weight its backend copied is not read from the file again by matmuls, so its pages are released as
  // soon as it is repacked: resident memory stays at one copy of the weights, not two.
  auto prepare = [&](const Weight& w) {
    const size_t bytes = kernels.prepare(w, OpKind::matmul);
    if (bytes > 0) model.release_weight_pages(w);
    prepared_bytes_ += bytes;
    return bytes > 0;
  };
  // The output matrix first: it is the largest, and while a weight is being repacked its file pages and its
  // copy are both resident, so doing it before anything else is packed keeps that overlap out of the peak.
  const bool output_prepared = prepare(model.output);
  // Each step reads one row of the embedding table, but the kernel maps the file around every faulting
  // address (fault-around, large page-cache folios), so over a generation most of the table became
  // resident: 37 MiB of a 1.1B Q4_0 model's 650. Dropping the table's pages from the mapping after each
  // lookup costs one madvise and one minor fault per step (~8 us); the page cache keeps the pages. Tables
  // under 16 MiB are left mapped: what they can add is bounded by their size, and on a model that small
  // (stories260K: 41 us per token) those 8 us would be a fifth of each step.
  constexpr size_t kReleasedEmbeddingMinBytes = size_t{16} << 20;
  release_embedding_pages_ = model.token_embd.bytes() >= kReleasedEmbeddingMinBytes &&
                             (model.token_embd.data != model.output.data || output_prepared);
  for (const LayerWeights& L : model.layers)
    for (const Weight* w :
         {&L.attn_q, &L.attn_k, &L.attn_v, &L.attn_output, &L.ffn_gate, &L.ffn_up, &L.ffn_down})
      prepare(*w);
}

uint64_t Forward::kv_cache_bytes() const {
  return 2ull * model_.config.n_layers * context_ * model_.config.kv_dim() * sizeof(float);
}

uint64_t Forward::activation_bytes() const {
  const ModelConfig& c = model_.config;
  return (uint64_t(max_batch_) * (3ull * c.dim + 2ull * c.q_dim() + 2ull * c.hidden_dim) +
          uint64_t(logits_.rows) * c.vocab_size) *
         sizeof(float);
}

template <class Fn>
void Forward::op(const char* name, OpKind kind, int layer, std::span<const Weight* const> weights,
                 int64_t n_keys, Fn&& fn) {
  auto run = [&] {  // with fault injection or per-op Callgrind counts when one is on (engine/op_hooks.h)
    if (op_hooks_active()) [[unlikely]]
      return run_op_hooked({name, kind, layer, batch_pos0_, batch_n_, weights, n_keys, &model_.config}, fn);
    fn();
  };
  if (!observer_) {
    run();
    return;
  }
  kernels_.synchronize();
  const auto start = std::chrono::steady_clock::now();
  run();
  kernels_.synchronize();
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start);
  OpEvent event{name,
                kind,
                layer,
                batch_pos0_,
                batch_n_,
                {},
                static_cast<int>(weights.size()),
                n_keys,
                static_cast<uint64_t>(ns.count())};
  std::copy(weights.begin(), weights.end(), event.weight_slots.begin());
  observer_->on_op(event);
}

void Forward::eval(std::span<const int32_t> tokens, int64_t pos0, float* logits_out, bool all_logits) {
  const int64_t vocab = model_.config.vocab_size;
  if (pos0 < 0 || pos0 + static_cast<int64_t>(tokens.size()) > context_)
    throw Error("positions " + std::to_string(pos0) + ".." + std::to_string(pos0 + tokens.size()) +
                " exceed the context of " + std::to_string(context_));
  for (int32_t t : tokens)
    if (t < 0 || t >= vocab)
      throw Error("token id " + std::to_string(t) + " is outside the vocabulary (0.." +
                  std::to_string(vocab - 1) + ")");
  for (size_t done = 0; done < tokens.size();) {
    const size_t n = std::min<size_t>(tokens.size() - done, static_cast<size_t>(max_batch_));
    const bool last = done + n == tokens.size();
    float* out = nullptr;
    if (logits_out && all_logits) out = logits_out + done * vocab;
    if (logits_out && !all_logits && last) out = logits_out;
    eval_batch(tokens.subspan(done, n), pos0 + static_cast<int64_t>(done), out, all_logits);
    done += n;
  }
}

void Forward::eval_batch(std::span<const int32_t> tokens, int64_t pos0, float* logits_out, bool all_logits) {
  const ModelConfig& c = model_.config;
  const int64_t n = static_cast<int64_t>(tokens.size());
  batch_pos0_ = pos0;
  batch_n_ = n;
  KernelSet& k = kernels_;
  const Mat x = x_.row_range(0, n), xb = xb_.row_range(0, n), q = q_.row_range(0, n),
            att = att_.row_range(0, n);
  const Mat proj = proj_.row_range(0, n), gate = gate_.row_range(0, n), up = up_.row_range(0, n);

  op("embed", OpKind::embed, -1, &model_.token_embd, 0, [&] {
    k.for_op(OpKind::embed, model_.token_embd.type).embed(model_.token_embd, tokens, x);
    if (release_embedding_pages_) model_.release_weight_pages(model_.token_embd);
  });

  for (int l = 0; l < c.n_layers; ++l) {
    const LayerWeights& L = model_.layers[l];
    // Keys and values of this batch go straight into the cache rows of their positions.
    const Mat k_new = k_cache_[l].row_range(pos0, n), v_new = v_cache_[l].row_range(pos0, n);

    // Attention block: x += attn_output(attention(rope(q), rope(k), v)) of rmsnorm(x).
    op("attn_norm", OpKind::rmsnorm, l, &L.attn_norm, 0,
       [&] { k.for_op(OpKind::rmsnorm).rmsnorm(x, L.attn_norm, c.rms_eps, xb); });
    // q, k and v read the same input: one grouped matmul (one job over all their rows).
    const Weight* const qkv[] = {&L.attn_q, &L.attn_k, &L.attn_v};
    const Mat qkv_out[] = {q, k_new, v_new};
    op("attn_qkv", OpKind::matmul, l, qkv, 0, [&] { k.matmuls(qkv, xb, qkv_out); });
    op("rope", OpKind::rope, l, nullptr, 0, [&] { k.for_op(OpKind::rope).rope(q, k_new, pos0, rope_); });
    op("attn", OpKind::attention, l, nullptr, pos0 + n, [&] {
      k.for_op(OpKind::attention).attention(q, k_cache_[l], v_cache_[l], pos0, attention_shape_, att);
    });
    op("attn_out", OpKind::matmul, l, &L.attn_output, 0,
       [&] { k.for_op(OpKind::matmul, L.attn_output.type).matmul(L.attn_output, att, proj); });
    op("attn_add", OpKind::add, l, nullptr, 0, [&] { k.for_op(OpKind::add).add(x, proj); });

    // Feed-forward block: x += ffn_down(silu(ffn_gate(h)) * ffn_up(h)), h = rmsnorm(x).
    op("ffn_norm", OpKind::rmsnorm, l, &L.ffn_norm, 0,
       [&] { k.for_op(OpKind::rmsnorm).rmsnorm(x, L.ffn_norm, c.rms_eps, xb); });
    const Weight* const gate_up[] = {&L.ffn_gate, &L.ffn_up};
    const Mat gate_up_out[] = {gate, up};
    op("ffn_gate_up", OpKind::matmul, l, gate_up, 0, [&] { k.matmuls(gate_up, xb, gate_up_out); });
    op("swiglu", OpKind::swiglu, l, nullptr, 0, [&] { k.for_op(OpKind::swiglu).swiglu(gate, up, gate); });
    op("ffn_down", OpKind::matmul, l, &L.ffn_down, 0,
       [&] { k.for_op(OpKind::matmul, L.ffn_down.type).matmul(L.ffn_down, gate, proj); });
    op("ffn_add", OpKind::add, l, nullptr, 0, [&] { k.for_op(OpKind::add).add(x, proj); });
  }

  if (!logits_out) return;
  // Only the rows whose logits are wanted go through the final norm and the (large) output matmul.
  const int64_t first = all_logits ? 0 : n - 1;
  const Mat x_out = x_.row_range(first, n - first), xb_out = xb_.row_range(first, n - first);
  op("output_norm", OpKind::rmsnorm, -1, &model_.output_norm, 0,
     [&] { k.for_op(OpKind::rmsnorm).rmsnorm(x_out, model_.output_norm, c.rms_eps, xb_out); });
  for (int64_t row = 0; row < x_out.rows; row += logits_.rows) {
    const int64_t rows = std::min(logits_.rows, x_out.rows - row);
    const Mat logits = logits_.row_range(0, rows);
    op("output", OpKind::matmul, -1, &model_.output, 0, [&] {
      k.for_op(OpKind::matmul, model_.output.type).matmul(model_.output, xb_out.row_range(row, rows), logits);
    });
    kernels_.memory().download(logits, logits_out + row * c.vocab_size);
  }
}

}  // namespace llamascope
