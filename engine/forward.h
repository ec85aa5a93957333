// The LLaMA forward pass, written once against the kernel interface: a batch of tokens at consecutive
// positions goes in (a prompt as one batch, or one token while generating), logits come out, and the KV
// cache keeps what later positions attend to. Each op can be reported to an observer for profiling.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <vector>

#include "engine/model.h"
#include "kernels/kernel_set.h"
#include "kernels/op_desc.h"

namespace llamascope {

// What the forward reports about one op when an observer is attached. Names are stable (docs/results.md).
struct OpEvent {
  static constexpr int kMaxWeights = 3;

  const char* op;  // "embed", "attn_norm", "attn_qkv", ..., "output"
  OpKind kind;
  int layer;      // -1 outside the layers
  int64_t pos0;   // position of the batch's first token
  int64_t batch;  // tokens in the batch
  // The weights the op reads: none, one, or several for a grouped matmul (attn_qkv, ffn_gate_up).
  std::array<const Weight*, kMaxWeights> weight_slots;
  int n_weights;
  int64_t n_keys;     // attention: cache rows the last query reads; else 0
  uint64_t ns;        // time of the op by the backend's timer
  const char* clock;  // which clock measured `ns` (OpTimer::clock_name: "host_steady", "cuda_event")
  // Bytes of the weights as their backends hold them (a repacked or narrowed copy where one was made, else
  // the file's); 0: not known, take the file's.
  uint64_t weight_read_bytes = 0;

  std::span<const Weight* const> weights() const {
    return {weight_slots.data(), static_cast<size_t>(n_weights)};
  }
  // The op as one descriptor (its weights' types and shapes, the model's widths for the rest) over `rows`
  // activation rows: what its bytes and FLOPs are computed from (engine/op_event.cpp).
  OpDesc desc(const ModelConfig& c, int64_t rows) const;
};

class OpObserver {
 public:
  virtual ~OpObserver() = default;
  virtual void on_op(const OpEvent& event) = 0;
};

// Receives what each op wrote, in forward order, copied to the host (for per-op numerics checks such as
// `golden layers`). values: the op's outputs one after another, row-major, each `rows` rows long.
class OutputTap {
 public:
  virtual ~OutputTap() = default;
  virtual void on_output(const char* op, int layer, int64_t rows, std::span<const float> values) = 0;
};

class Forward {
 public:
  // Rows of logits computed per output matmul; bounds that buffer (vocab 128k x 32 rows = 16 MiB).
  static constexpr int64_t kLogitsRows = 32;

  static constexpr int64_t kDefaultMaxBatch = 512;

  // context: KV-cache capacity in positions (<= 0: the model's context length); max_batch: most tokens in
  // one pass (a longer prompt is split into passes of this size); kv_type: the cache's element type (F32 or
  // F16; another is an Error).
  Forward(const Model& model, KernelSet& kernels, int64_t context = 0, int64_t max_batch = kDefaultMaxBatch,
          TensorType kv_type = TensorType::F32);

  // Runs tokens at positions pos0, pos0+1, ... (pos0 must equal the cache's current length; positions past
  // it are discarded first, so a caller can rewind). logits_out receives, if not null, n_vocab floats per
  // token when all_logits, else only the last token's.
  void eval(std::span<const int32_t> tokens, int64_t pos0, float* logits_out, bool all_logits = false);

  int64_t context() const { return context_; }
  int64_t max_batch() const { return max_batch_; }
  void set_observer(OpObserver* observer) { observer_ = observer; }
  void set_output_tap(OutputTap* tap) { tap_ = tap; }
  // Whether LLAMASCOPE_INJECT_FAULT applies to this forward (on by default; a reference run turns it off).
  void set_fault_injection(bool on);
  uint64_t kv_cache_bytes() const;
  uint64_t activation_bytes() const;
  uint64_t prepared_bytes() const { return prepared_bytes_; }
  // Weight bytes one step's ops read (the embedding table aside: a step reads its rows only): a weight's
  // prepared copy where its backend made one (repacked, narrowed, on a device), else the file's bytes.
  uint64_t weight_read_bytes() const { return weight_read_bytes_; }

 private:
  void eval_batch(std::span<const int32_t> tokens, int64_t pos0, float* logits_out, bool all_logits);

  // Runs one op, timing it only when an observer is attached, and handing its outputs to the tap and the
  // output faults only when one is on (one branch each otherwise).
  template <class Fn>
  void op(const char* name, OpKind kind, int layer, std::span<const PreparedWeight* const> weights,
          int64_t n_keys, std::initializer_list<Mat> outputs, Fn&& fn);
  template <class Fn>
  void op(const char* name, OpKind kind, int layer, const PreparedWeight* weight, int64_t n_keys,
          std::initializer_list<Mat> outputs, Fn&& fn) {
    op(name, kind, layer, std::span<const PreparedWeight* const>(&weight, weight ? 1 : 0), n_keys, outputs,
       fn);
  }
  void inspect_outputs(const char* name, int layer, std::initializer_list<Mat> outputs);

  const Model& model_;
  KernelSet& kernels_;
  OpObserver* observer_ = nullptr;
  OutputTap* tap_ = nullptr;
  bool faults_on_ = false;  // LLAMASCOPE_INJECT_FAULT has rules and this forward takes them
  int64_t context_ = 0;
  int64_t max_batch_ = 0;
  int64_t batch_pos0_ = 0;  // of the batch being run (for events)
  int64_t batch_n_ = 0;
  uint64_t prepared_bytes_ = 0;
  uint64_t weight_read_bytes_ = 0;
  // Whether the embedding table's file pages are dropped from the mapping after each lookup: not for small
  // tables, nor where a matmul reads the same pages every step (a tied output its backend did not repack).
  bool release_embedding_pages_ = false;

  // The backends' handles of every weight this forward reads, shared with other forwards of the kernel set
  // and released with the last of them.
  struct LayerHandles {
    WeightHandle attn_norm, attn_q, attn_k, attn_v, attn_output, ffn_norm, ffn_gate, ffn_up, ffn_down;
  };
  WeightHandle token_embd_, output_norm_, output_, rope_freqs_;
  std::vector<LayerHandles> layers_;

  // Run state, allocated once by the buffer-owning backend and freed with this forward (buffers_ owns the
  // memory every Mat below points into); rows = tokens of the current batch.
  std::vector<Buffer> buffers_;
  Mat x_;                    // (max_batch, dim) the residual stream
  Mat xb_;                   // (max_batch, dim) normalised input of a block
  Mat q_;                    // (max_batch, q_dim) queries
  Mat att_;                  // (max_batch, q_dim) attention output, before attn_output
  Mat proj_;                 // (max_batch, dim) output of attn_output / ffn_down, added to x_
  Mat gate_;                 // (max_batch, hidden) ffn_gate output, then silu(gate) * up
  Mat up_;                   // (max_batch, hidden) ffn_up output
  Mat logits_;               // (kLogitsRows, vocab): the output matmul runs in chunks of this many rows
  Mat k_;                    // (max_batch, kv_dim) keys of the batch, rotated, then written to the cache
  Mat v_;                    // (max_batch, kv_dim) values of the batch
  std::vector<KvCache> kv_;  // per layer, from the attention backend; row p = key / value of position p
  TensorType kv_type_ = TensorType::F32;
  RopeParams rope_;
  AttentionShape attention_shape_;
};

}  // namespace llamascope
