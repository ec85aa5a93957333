#include "engine/forward.h"

#include <algorithm>

#include "base/error.h"
#include "engine/fault_injection.h"
#include "engine/op_hooks.h"

namespace llamascope {

Forward::Forward(const Model& model, KernelSet& kernels, int64_t context, int64_t max_batch,
                 TensorType kv_type)
    : model_(model), kernels_(kernels), kv_type_(kv_type) {
  set_fault_injection(true);
  if (kv_type != TensorType::F32 && kv_type != TensorType::F16)
    throw Error(std::string("KV cache type ") + type_name(kv_type) + " is not supported (f32 or f16)");
  const ModelConfig& c = model.config;
  context_ = context > 0 ? context : c.context_length;
  max_batch_ = std::clamp<int64_t>(max_batch, 1, context_);
  Backend& mem = kernels.memory();
  auto alloc = [&](int64_t rows, int64_t cols) {
    buffers_.push_back(mem.alloc(rows, cols));
    return buffers_.back().mat;
  };
  x_ = alloc(max_batch_, c.dim);
  xb_ = alloc(max_batch_, c.dim);
  q_ = alloc(max_batch_, c.q_dim());
  att_ = alloc(max_batch_, c.q_dim());
  proj_ = alloc(max_batch_, c.dim);
  gate_ = alloc(max_batch_, c.hidden_dim);
  up_ = alloc(max_batch_, c.hidden_dim);
  logits_ = alloc(std::min(max_batch_, kLogitsRows), c.vocab_size);
  k_ = alloc(max_batch_, c.kv_dim());
  v_ = alloc(max_batch_, c.kv_dim());
  Backend& attention = kernels.for_op(OpKind::attention, kv_type);
  for (int l = 0; l < c.n_layers; ++l) kv_.push_back(attention.alloc_kv(context_, c.kv_dim(), kv_type));

  // Every weight becomes a handle of the backend that runs the op reading it. A matmul weight its backend
  // copied is not read from the file again, so its pages are released at once: resident memory stays at one
  // copy of the weights, not two.
  std::vector<const PreparedWeight*> counted;
  auto prepare = [&](const Weight& w, OpKind use) {
    WeightHandle handle = kernels.prepare(w, use);
    if (handle->bytes > 0 && use == OpKind::matmul) model.release_weight_pages(w);
    if (std::find(counted.begin(), counted.end(), handle.get()) == counted.end()) {
      counted.push_back(handle.get());
      prepared_bytes_ += handle->bytes;
      if (use != OpKind::embed) weight_read_bytes_ += handle->bytes > 0 ? handle->bytes : w.bytes();
    }
    return handle;
  };
  // The output matrix first: it is the largest, and a weight's file pages and its copy are both resident
  // while it is repacked, so that overlap stays out of the peak.
  output_ = prepare(model.output, OpKind::matmul);
  token_embd_ = prepare(model.token_embd, OpKind::embed);
  output_norm_ = prepare(model.output_norm, OpKind::rmsnorm);
  if (!model.rope_freq_factors.empty()) {
    const int64_t n = static_cast<int64_t>(model.rope_freq_factors.size());
    rope_freqs_ = prepare(Weight{"rope_freqs.weight", TensorType::F32, model.rope_freq_factors.data(), 1, n,
                                 static_cast<size_t>(n) * sizeof(float)},
                          OpKind::rope);
  }
  // The table's pages come back with every lookup (the kernel maps the file around each faulting address), so
  // a large one is released after each lookup; docs/performance.md has the measurements behind the size.
  constexpr size_t kReleasedEmbeddingMinBytes = size_t{16} << 20;
  release_embedding_pages_ = model.token_embd.bytes() >= kReleasedEmbeddingMinBytes &&
                             (model.token_embd.data != model.output.data || output_->bytes > 0);
  for (const LayerWeights& L : model.layers) {
    LayerHandles h;
    h.attn_norm = prepare(L.attn_norm, OpKind::rmsnorm);
    h.attn_q = prepare(L.attn_q, OpKind::matmul);
    h.attn_k = prepare(L.attn_k, OpKind::matmul);
    h.attn_v = prepare(L.attn_v, OpKind::matmul);
    h.attn_output = prepare(L.attn_output, OpKind::matmul);
    h.ffn_norm = prepare(L.ffn_norm, OpKind::rmsnorm);
    h.ffn_gate = prepare(L.ffn_gate, OpKind::matmul);
    h.ffn_up = prepare(L.ffn_up, OpKind::matmul);
    h.ffn_down = prepare(L.ffn_down, OpKind::matmul);
    layers_.push_back(std::move(h));
  }
  rope_ = RopeParams{c.n_heads, c.n_kv_heads, c.head_dim, c.rope_dims, c.rope_freq_base, rope_freqs_.get()};
  attention_shape_ = AttentionShape{c.n_heads, c.n_kv_heads, c.head_dim};
}

uint64_t Forward::kv_cache_bytes() const {
  uint64_t bytes = 0;
  for (const KvCache& cache : kv_) bytes += cache.bytes();
  return bytes;
}

uint64_t Forward::activation_bytes() const {
  const ModelConfig& c = model_.config;
  return (uint64_t(max_batch_) * (3ull * c.dim + 2ull * c.q_dim() + 2ull * c.hidden_dim + 2ull * c.kv_dim()) +
          uint64_t(logits_.rows) * c.vocab_size) *
         sizeof(float);
}

template <class Fn>
void Forward::op(const char* name, OpKind kind, int layer, std::span<const PreparedWeight* const> handles,
                 int64_t n_keys, std::initializer_list<Mat> outputs, Fn&& fn) {
  std::array<const Weight*, OpEvent::kMaxWeights> views{};
  const size_t n_weights = std::min(handles.size(), views.size());
  for (size_t i = 0; i < n_weights; ++i) views[i] = &handles[i]->host;
  const std::span<const Weight* const> weights(views.data(), n_weights);
  auto run = [&] {  // with fault injection or per-op Callgrind counts when one is on (engine/op_hooks.h)
    if (op_hooks_active()) [[unlikely]]
      return run_op_hooked({name, kind, layer, batch_pos0_, batch_n_, weights, n_keys, &model_.config}, fn);
    fn();
  };
  if (!observer_) {
    run();
  } else {
    OpTimer& timer = kernels_.timer();
    timer.start();
    run();
    const uint64_t ns = timer.stop();
    OpEvent event{name,
                  kind,
                  layer,
                  batch_pos0_,
                  batch_n_,
                  {},
                  static_cast<int>(weights.size()),
                  n_keys,
                  ns,
                  timer.clock_name()};
    event.weight_slots = views;
    for (const PreparedWeight* h : handles.first(n_weights))
      event.weight_read_bytes += h->bytes > 0 ? h->bytes : h->host.bytes();
    observer_->on_op(event);
  }
  if (tap_ || faults_on_) [[unlikely]]
    inspect_outputs(name, layer, outputs);  // after the timing: copies are not the op's time
}

void Forward::set_fault_injection(bool on) {
  faults_on_ = on && !output_faults().empty();
}

void Forward::inspect_outputs(const char* name, int layer, std::initializer_list<Mat> outputs) {
  Backend& memory = kernels_.memory();
  memory.synchronize();
  std::vector<float> values;
  int64_t rows = 0;
  for (const Mat& m : outputs) {
    const size_t at = values.size();
    values.resize(at + static_cast<size_t>(m.rows * m.cols));
    memory.download(m, values.data() + at);
    if (faults_on_ && perturb_output(name, layer, std::span<float>(values).subspan(at)))
      memory.upload(m, values.data() + at);
    rows = m.rows;
  }
  if (tap_) tap_->on_output(name, layer, rows, values);
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
  // Downloading logits waits for the work queued; without them, wait here: eval returns with its work done.
  if (!logits_out) kernels_.synchronize();
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

  const Weight& table = token_embd_->host;
  op("embed", OpKind::embed, -1, token_embd_.get(), 0, {x}, [&] {
    k.for_op(OpKind::embed, table.type).embed(*token_embd_, tokens, x);
    if (release_embedding_pages_) model_.release_weight_pages(model_.token_embd);
  });

  for (int l = 0; l < c.n_layers; ++l) {
    const LayerHandles& L = layers_[l];
    const Mat k_new = k_.row_range(0, n), v_new = v_.row_range(0, n);

    // Attention block: x += attn_output(attention(rope(q), rope(k), v)) of rmsnorm(x).
    op("attn_norm", OpKind::rmsnorm, l, L.attn_norm.get(), 0, {xb},
       [&] { k.for_op(OpKind::rmsnorm, L.attn_norm->host.type).rmsnorm(x, *L.attn_norm, c.rms_eps, xb); });
    // q, k and v read the same input: one grouped matmul (one job over all their rows).
    const PreparedWeight* const qkv[] = {L.attn_q.get(), L.attn_k.get(), L.attn_v.get()};
    const Mat qkv_out[] = {q, k_new, v_new};
    op("attn_qkv", OpKind::matmul, l, qkv, 0, {q, k_new, v_new}, [&] { k.matmuls(qkv, xb, qkv_out); });
    op("rope", OpKind::rope, l, nullptr, 0, {q, k_new},
       [&] { k.for_op(OpKind::rope).rope(q, k_new, pos0, rope_); });
    // The batch's keys and values go into the cache rows of their positions, then the queries attend.
    op("attn", OpKind::attention, l, nullptr, pos0 + n, {att}, [&] {
      Backend& attention = k.for_op(OpKind::attention, kv_type_);
      attention.kv_write(kv_[l], k_new, v_new, pos0);
      attention.attention(q, kv_[l], pos0, attention_shape_, att);
    });
    op("attn_out", OpKind::matmul, l, L.attn_output.get(), 0, {proj},
       [&] { k.for_op(OpKind::matmul, L.attn_output->host.type).matmul(*L.attn_output, att, proj); });
    op("attn_add", OpKind::add, l, nullptr, 0, {x}, [&] { k.for_op(OpKind::add).add(x, proj); });

    // Feed-forward block: x += ffn_down(silu(ffn_gate(h)) * ffn_up(h)), h = rmsnorm(x).
    op("ffn_norm", OpKind::rmsnorm, l, L.ffn_norm.get(), 0, {xb},
       [&] { k.for_op(OpKind::rmsnorm, L.ffn_norm->host.type).rmsnorm(x, *L.ffn_norm, c.rms_eps, xb); });
    const PreparedWeight* const gate_up[] = {L.ffn_gate.get(), L.ffn_up.get()};
    const Mat gate_up_out[] = {gate, up};
    op("ffn_gate_up", OpKind::matmul, l, gate_up, 0, {gate, up},
       [&] { k.matmuls(gate_up, xb, gate_up_out); });
    op("swiglu", OpKind::swiglu, l, nullptr, 0, {gate},
       [&] { k.for_op(OpKind::swiglu).swiglu(gate, up, gate); });
    op("ffn_down", OpKind::matmul, l, L.ffn_down.get(), 0, {proj},
       [&] { k.for_op(OpKind::matmul, L.ffn_down->host.type).matmul(*L.ffn_down, gate, proj); });
    op("ffn_add", OpKind::add, l, nullptr, 0, {x}, [&] { k.for_op(OpKind::add).add(x, proj); });
  }

  if (!logits_out) return;
  // Only the rows whose logits are wanted go through the final norm and the (large) output matmul.
  const int64_t first = all_logits ? 0 : n - 1;
  const Mat x_out = x_.row_range(first, n - first), xb_out = xb_.row_range(first, n - first);
  op("output_norm", OpKind::rmsnorm, -1, output_norm_.get(), 0, {xb_out}, [&] {
    k.for_op(OpKind::rmsnorm, output_norm_->host.type).rmsnorm(x_out, *output_norm_, c.rms_eps, xb_out);
  });
  for (int64_t row = 0; row < x_out.rows; row += logits_.rows) {
    const int64_t rows = std::min(logits_.rows, x_out.rows - row);
    const Mat logits = logits_.row_range(0, rows);
    op("output", OpKind::matmul, -1, output_.get(), 0, {logits}, [&] {
      k.for_op(OpKind::matmul, output_->host.type).matmul(*output_, xb_out.row_range(row, rows), logits);
    });
    kernels_.memory().download(logits, logits_out + row * c.vocab_size);
  }
}

}  // namespace llamascope
